//! Parses `mappings {}` (top level: the global account's; or inside an
//! account) into [`MappingConfig`]s, with nats-server's texts and positions
//! (`parseAccountMappings`, `parseAccountMapDest`, and the checks of
//! `AddWeightedMappings` that need no transform: duplicate destination,
//! total weight per cluster set).
//!
//! Destinations are compiled once here (`transform::Mapping`) only to report
//! nats-server's error for a bad one; the routing core compiles its own.
//! It never reads files.

use super::parse::go_atoi;
use super::{MapDest, MappingConfig};
use crate::config::apply::{go_v, map_of, str_of, Report, R};
use crate::config::auth::is_valid_subject;
use crate::config::error::Diag;
use crate::config::value::{Kind, Value};
use crate::transform::Mapping;

/// `mappings {}` (top level or in an account), in file order.
pub(in crate::config) fn parse_mappings(v: &Value, rep: &mut Report) -> R<Vec<MappingConfig>> {
    let m = map_of(v)?;
    let mut out: Vec<MappingConfig> = Vec::new();
    for e in m.iter() {
        let src = &e.key;
        let mv = &e.value;
        if !is_valid_subject(src) {
            rep.errors.push(Diag::invalid(
                &v.pos,
                format!("Subject {src:?} is not a valid subject"),
            ));
            continue;
        }
        let dests = match &mv.kind {
            Kind::String(s) => vec![MapDest {
                subject: s.clone(),
                weight: 100,
                cluster: None,
            }],
            Kind::Array(items) => items
                .iter()
                .filter_map(|it| parse_map_dest(it, rep))
                .collect(),
            _ => match parse_map_dest(mv, rep) {
                Some(d) => vec![d],
                None => continue,
            },
        };
        if let Err(why) = check_weights(&dests) {
            rep.errors.push(Diag::invalid(
                &mv.pos,
                format!("Error adding mapping for {src:?} : {why}"),
            ));
            continue;
        }
        let compiled = Mapping::new(
            src,
            dests
                .iter()
                .map(|d| (d.subject.as_str(), d.weight, d.cluster.as_deref())),
        );
        if let Err(why) = compiled {
            // A plain string destination names itself in the message.
            let text = match &mv.kind {
                Kind::String(d) => format!("Error adding mapping for {src:?} to {d:?} : {why}"),
                _ => format!("Error adding mapping for {src:?} : {why}"),
            };
            rep.errors.push(Diag::invalid(&mv.pos, text));
            continue;
        }
        let mc = MappingConfig {
            source: src.clone(),
            destinations: dests,
        };
        // A source given twice replaces the earlier one, as nats-server.
        match out.iter_mut().find(|o| o.source == mc.source) {
            Some(old) => *old = mc,
            None => out.push(mc),
        }
    }
    Ok(out)
}

/// nats-server's `AddWeightedMappings` checks that need no transform: no
/// destination twice, at most 100% per cluster set.
fn check_weights(dests: &[MapDest]) -> Result<(), String> {
    let mut totals: Vec<(Option<&str>, u32)> = Vec::new();
    for (i, d) in dests.iter().enumerate() {
        if dests[..i].iter().any(|o| o.subject == d.subject) {
            return Err(format!("duplicate entry for {:?}", d.subject));
        }
        let c = d.cluster.as_deref();
        let t = match totals.iter_mut().find(|(k, _)| *k == c) {
            Some((_, t)) => t,
            None => {
                totals.push((c, 0));
                &mut totals.last_mut().expect("just pushed").1
            }
        };
        *t += u32::from(d.weight);
        if *t > 100 {
            return Err("total weight needs to be <= 100".to_string());
        }
    }
    Ok(())
}

/// One `{destination, weight, cluster}`; errors are reported, `None` skips it.
fn parse_map_dest(v: &Value, rep: &mut Report) -> Option<MapDest> {
    let r = map_dest(v);
    if let Err(d) = &r {
        rep.errors.push(d.clone());
    }
    r.ok()
}

fn map_dest(v: &Value) -> R<MapDest> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            "Expected an entry for the mapping destination",
        ));
    };
    let mut d = MapDest::default();
    let mut weight_seen = false;
    for e in m.iter() {
        let mv = &e.value;
        let pos = &mv.pos;
        match e.lower.as_str() {
            "dest" | "destination" => d.subject = str_of(mv)?.to_string(),
            "weight" => {
                let w = match &mv.kind {
                    Kind::String(s) => {
                        let t = s.strip_suffix('%').unwrap_or(s);
                        go_atoi(t).map_err(|_| {
                            Diag::invalid(
                                pos,
                                format!("Invalid weight {t:?} for mapping destination"),
                            )
                        })?
                    }
                    Kind::Integer(n) => *n,
                    _ => {
                        return Err(Diag::invalid(
                            pos,
                            format!("Unknown entry type for weight of {}\n", go_v(mv)),
                        ))
                    }
                };
                if !(0..=100).contains(&w) {
                    return Err(Diag::invalid(
                        pos,
                        format!("Invalid weight {w} for mapping destination"),
                    ));
                }
                d.weight = w as u8;
                weight_seen = true;
            }
            "cluster" => d.cluster = Some(str_of(mv)?.to_string()),
            _ => {
                return Err(Diag::invalid(
                    pos,
                    format!("Unknown field {:?} for mapping destination", e.key),
                ))
            }
        }
    }
    if !weight_seen {
        return Err(Diag::invalid(
            &v.pos,
            format!("Missing weight for mapping destination {:?}", d.subject),
        ));
    }
    Ok(d)
}
