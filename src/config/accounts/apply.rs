//! Applies the top-level `accounts` key to [`Options`] once every other
//! top-level key is applied (so the result does not depend on key order,
//! unlike nats-server's random map walk): parses the accounts, checks users
//! against `authorization` (single user, token, duplicates across accounts
//! and with `authorization.users`) and, when the file has no error so far
//! (nats-server bails the same way), runs the cross-account checks.
//!
//! It never touches options other than `accounts`.

use std::collections::HashSet;

use super::parse::parse_accounts;
use crate::config::apply::Report;
use crate::config::error::Diag;
use crate::config::options::Options;
use crate::config::value::Value;

/// Parses `v` (the `accounts` value) into `o.accounts`.
pub(in crate::config) fn apply_accounts(o: &mut Options, v: &Value, rep: &mut Report) {
    let parsed = match parse_accounts(v, rep) {
        Ok(p) => p,
        Err(d) => {
            rep.errors.push(d);
            return;
        }
    };
    let auth = &o.authorization;
    let single_user = auth.user.as_deref().is_some_and(|u| !u.is_empty());
    let token = auth.token.as_deref().is_some_and(|t| !t.is_empty());
    let mut seen: HashSet<String> = auth
        .users
        .iter()
        .flatten()
        .map(|u| {
            if u.nkey.is_empty() {
                u.username.clone()
            } else {
                u.nkey.clone()
            }
        })
        .collect();
    for p in &parsed {
        let users = &p.account.users;
        let pos = p.users_pos.as_ref().unwrap_or(&v.pos);
        if !users.is_empty() {
            if single_user {
                rep.errors.push(Diag::invalid(
                    pos,
                    "Can not have a single user/pass and accounts",
                ));
                continue;
            }
            if token {
                rep.errors
                    .push(Diag::invalid(pos, "Can not have a token and accounts"));
                continue;
            }
        }
        for u in users.iter().filter(|u| !u.nkey.is_empty()) {
            if !seen.insert(u.nkey.clone()) {
                rep.errors.push(Diag::invalid(
                    pos,
                    format!("Duplicate nkey {:?} detected", u.nkey),
                ));
            }
        }
        for u in users.iter().filter(|u| u.nkey.is_empty()) {
            if !seen.insert(u.username.clone()) {
                rep.errors.push(Diag::invalid(
                    pos,
                    format!("Duplicate user {:?} detected", u.username),
                ));
            }
        }
    }
    o.accounts.extend(parsed.into_iter().map(|p| p.account));
    if rep.errors.is_empty() {
        let errs = super::validate::check(&o.accounts, o.no_sys_acc, &v.pos);
        rep.errors.extend(errs);
    }
}
