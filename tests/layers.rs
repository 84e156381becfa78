//! The layering of `src/` holds (docs/architecture.md describes the layers):
//!
//! * the routing core (`src/server/`) names no protocol layer: none of
//!   `client`, `route`, `conn`, `parser`, `listen`, `process`, `monitor`
//!   through `crate::…` or a `super::` path leaving `src/server/`; it may
//!   use `config`, `log`, `auth`, `outbound`, `tls`, itself and the
//!   `sublist` crate (any other module of the crate is refused);
//! * no source file under `src/` is over [`MAX_LINES`] lines.
//!
//! That every document a comment cites exists is `tests/docs.rs`'s check.
//! Plain file reads: no server is started.

mod support;

use std::fs;

use support::tree::{root, rust_files};

/// The longest a hand-written source file may be.
const MAX_LINES: usize = 800;

/// Top-level modules the routing core may name (`testing`: the crate's
/// `#[cfg(test)]` helpers). Any other module of the crate is refused, so a
/// new layer has to be added here on purpose.
const CORE_MAY_USE: &[&str] = &[
    "server",
    "config",
    "log",
    "auth",
    "outbound",
    "tls",
    "testing",
    "transform",
];

fn sources() -> Vec<(String, String)> {
    let files = rust_files(&root().join("src"));
    assert!(!files.is_empty(), "no source files under src/");
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("read source");
            // Relative to the repository root, with `/` separators.
            let rel = path.strip_prefix(root()).expect("under the root");
            (rel.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// The crate's top-level modules (`mod x;` in `src/lib.rs`).
fn crate_modules() -> Vec<String> {
    let lib = fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `text` with comments and the insides of string and char literals blanked
/// (newlines kept, so line numbers stay), so that only code is searched.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident_char(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_ident && matches!(next, Some('#') | Some('"')) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            for _ in i..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('a', '\n', '\''), not a lifetime.
            out.push(' ');
            i += 1;
            if chars.get(i) == Some(&'\\') {
                out.push(' ');
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// One path into the crate's top level: where, the module it names, and
/// the path as written.
#[derive(Debug, PartialEq)]
struct CrateRef {
    line: usize,
    module: String,
    written: String,
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first segments of a `{a, b::c, self}` group (after the `{`).
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if c.is_whitespace() => {}
            _ if item_start && depth == 0 => {
                item_start = false;
                let head = ident(&s[i..]);
                if !head.is_empty() && head != "self" {
                    heads.push(head.to_string());
                }
            }
            _ => {}
        }
    }
    heads
}

/// The path as written from `at` (up to the end of the line), for messages.
fn written_at(code: &str, at: usize) -> String {
    let rest = &code[at..];
    let end = rest
        .find(|c: char| !(is_ident_char(c) || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].trim_end_matches(':').to_string()
}

/// Every reference from `file` (a path such as `src/server/mod.rs`) to a
/// top-level module of the crate: `crate::x…`, `crate::{x, y}`, and
/// `super::…` chains that climb out to the crate root. A `super::` inside
/// an inline module (`mod tests`) is counted from the file's module, which
/// can only over-report.
fn crate_refs(file: &str, text: &str) -> Vec<CrateRef> {
    let code = code_only(text);
    let depth = {
        let rel = file.strip_prefix("src/").unwrap_or(file);
        let parts: Vec<&str> = rel.split('/').collect();
        let last = parts.last().copied().unwrap_or("");
        let own = usize::from(last != "mod.rs" && last != "lib.rs" && last != "main.rs");
        parts.len() - 1 + own
    };
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut refs = Vec::new();
    let push = |at: usize, after: usize, refs: &mut Vec<CrateRef>| {
        let rest = code[after..].trim_start();
        let (heads, group) = match rest.strip_prefix('{') {
            Some(group) => (group_heads(group), true),
            None => (vec![ident(rest).to_string()], false),
        };
        for module in heads.into_iter().filter(|h| !h.is_empty()) {
            let written = if group {
                // `crate::{a, b::c}`: name the member (`crate::{b…}`).
                format!("{}::{{{module}…}}", &code[at..after].trim_end_matches(':'))
            } else {
                written_at(&code, at)
            };
            refs.push(CrateRef {
                line: line_of(at),
                module,
                written,
            });
        }
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| is_ident_char(c)) {
            continue;
        }
        push(at, at + "crate::".len(), &mut refs);
    }
    for (at, _) in code.match_indices("super::") {
        let before = &code[..at];
        if before.ends_with(|c: char| is_ident_char(c)) || before.ends_with("super::") {
            continue;
        }
        let mut after = at;
        let mut ups = 0;
        while code[after..].starts_with("super::") {
            after += "super::".len();
            ups += 1;
        }
        if ups >= depth {
            push(at, after, &mut refs);
        }
    }
    refs.sort_by_key(|r| r.line);
    refs
}

/// What the routing core names that it must not: `file:line: path`.
fn core_violations(files: &[(String, String)], modules: &[String]) -> Vec<(String, CrateRef)> {
    files
        .iter()
        .filter(|(f, _)| f.starts_with("src/server/"))
        .flat_map(|(f, text)| {
            crate_refs(f, text)
                .into_iter()
                .filter(|r| modules.contains(&r.module))
                .filter(|r| !CORE_MAY_USE.contains(&r.module.as_str()))
                .map(move |r| (f.clone(), r))
        })
        .collect()
}

#[test]
fn the_routing_core_names_no_protocol_layer() {
    let files = sources();
    let modules = crate_modules();
    assert!(
        modules.iter().any(|m| m == "server") && modules.iter().any(|m| m == "client"),
        "src/lib.rs declares the layers: {modules:?}"
    );
    let found: Vec<String> = core_violations(&files, &modules)
        .iter()
        .map(|(f, r)| {
            format!(
                "{f}:{}: `{}` names `{}`; the routing core may only use {CORE_MAY_USE:?}",
                r.line, r.written, r.module
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "the routing core (src/server/) imports a protocol layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_is_over_the_limit() {
    let files = sources();
    let long: Vec<String> = files
        .iter()
        .map(|(f, t)| (f, t.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines (split them at their seams):\n{}",
        long.join("\n")
    );
}

/// The scanner finds what it must, where it is, and nothing in comments or
/// strings.
#[test]
fn the_scanner_catches_a_forbidden_import() {
    let modules: Vec<String> = ["server", "client", "config", "route", "process", "tls"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let text = "use crate::config::Options;\n\
                use crate::client::info::Info;\n\
                // crate::process in a comment\n\
                use crate::{\n    log,\n    route::RouteEntry,\n    tls::TlsError,\n};\n\
                let s = \"crate::process\"; let c = '\"'; let t = crate::process::start;\n\
                use super::super::client;\n\
                fn f<'a>(x: &'a str) -> &'a str { x }\n";
    let files = vec![("src/server/x.rs".to_string(), text.to_string())];
    let found: Vec<(usize, String)> = core_violations(&files, &modules)
        .into_iter()
        .map(|(_, r)| (r.line, r.module))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, "client".to_string()),
            (4, "route".to_string()),
            (9, "process".to_string()),
            (10, "client".to_string()),
        ]
    );
    // `super::` that stays inside the core is fine.
    let inside = vec![(
        "src/server/x.rs".to_string(),
        "use super::shared::ConnShared;\n".to_string(),
    )];
    assert!(core_violations(&inside, &modules).is_empty());
    // Outside the core, anything goes.
    let outside = vec![("src/process/x.rs".to_string(), text.to_string())];
    assert!(core_violations(&outside, &modules).is_empty());
}
