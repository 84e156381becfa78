//! The documents in the repository stay true to the code:
//!
//! * every function, type or file named in `docs/architecture.md`'s walk of
//!   a PUB exists in the source (`src/`, `sublist/src/`);
//! * every Markdown document a source comment or a document cites
//!   (`docs/protocol.md#routes`, `nats-bench/README.md`) is in the
//!   repository, with the section the `#anchor` names; and no comment cites
//!   the reference notes the project was started from, which are not.
//!
//! Plain file reads: no server is started.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::tree::{root, rust_files};

/// The code the architecture document describes.
fn source() -> Vec<(PathBuf, String)> {
    let mut files = rust_files(&root().join("src"));
    files.extend(rust_files(&root().join("sublist/src")));
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).expect("read source");
            (p, text)
        })
        .collect()
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `fn name(` or `fn name<` somewhere in `line`.
fn defines_fn(line: &str, name: &str) -> bool {
    let pat = format!("fn {name}");
    line.match_indices(&pat).any(|(i, _)| {
        let next = line[i + pat.len()..].chars().next();
        matches!(next, Some('(') | Some('<'))
    })
}

/// `struct Name`, `enum Name`, `trait Name` or `type Name` in `line`.
fn defines_type(line: &str, name: &str) -> bool {
    ["struct", "enum", "trait", "type"].iter().any(|kw| {
        let pat = format!("{kw} {name}");
        line.match_indices(&pat).any(|(i, _)| {
            let next = line[i + pat.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

/// Whether `word` occurs in `line` as a whole identifier.
fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// A method `name` in an `impl` block (at the file's top level) whose header
/// names `ty`.
fn defines_method(text: &str, ty: &str, name: &str) -> bool {
    let mut in_impl = false;
    for line in text.lines() {
        if line.starts_with("impl") {
            let header = line.split('{').next().unwrap_or(line);
            in_impl = has_word(header, ty);
        } else if line.starts_with('}') {
            in_impl = false;
        } else if in_impl
            && line.starts_with("    ")
            && !line.starts_with("     ")
            && defines_fn(line, name)
        {
            return true;
        }
    }
    false
}

/// The module file(s) `module` can be: `src/m.rs`, `sublist/src/m.rs`, or
/// any file of the folder `src/m/` (an item re-exported from a submodule).
fn module_files<'a>(src: &'a [(PathBuf, String)], module: &str) -> Vec<&'a String> {
    src.iter()
        .filter(|(p, _)| {
            let file = p.file_stem().and_then(|s| s.to_str());
            let dir = p
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|s| s.to_str());
            file == Some(module) || dir == Some(module)
        })
        .map(|(_, t)| t)
        .collect()
}

/// Why `name` (as cited in the walk) does not exist, if it does not.
fn check_name(src: &[(PathBuf, String)], name: &str) -> Option<String> {
    if name.contains('/') || name.ends_with(".rs") {
        let path = name.split(':').next().unwrap_or(name);
        return (!root().join(path).exists()).then(|| format!("no file {path}"));
    }
    let segments: Vec<&str> = name.split("::").collect();
    if !segments.iter().all(|s| is_ident(s)) {
        return None; // prose in backticks (`MSG foo 1 5`)
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return None; // a protocol word (`PUB`, `RMSG`)
    }
    let found = match segments.as_slice() {
        [one] if one.starts_with(|c: char| c.is_ascii_uppercase()) => src
            .iter()
            .any(|(_, t)| t.lines().any(|l| defines_type(l, one))),
        [one] => src
            .iter()
            .any(|(_, t)| t.lines().any(|l| defines_fn(l, one))),
        [ty, method] if ty.starts_with(|c: char| c.is_ascii_uppercase()) => {
            src.iter().any(|(_, t)| defines_method(t, ty, method))
        }
        [module, item] => module_files(src, module).iter().any(|t| {
            t.lines()
                .any(|l| defines_fn(l, item) || defines_type(l, item))
        }),
        _ => false,
    };
    (!found).then(|| format!("`{name}` is not defined in src/ or sublist/src/"))
}

/// The backticked spans of `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The walk of a PUB: from its heading to the next `## `.
fn pub_walk() -> String {
    let doc =
        fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let start = doc
        .find("\n## One PUB")
        .expect("docs/architecture.md has a `## One PUB` section");
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

#[test]
fn every_name_in_the_pub_walk_exists() {
    let src = source();
    let walk = pub_walk();
    let names = backticked(&walk);
    assert!(names.len() > 30, "the walk cites too few names: {names:?}");
    let missing: Vec<String> = names.iter().filter_map(|n| check_name(&src, n)).collect();
    assert!(missing.is_empty(), "docs/architecture.md: {missing:#?}");
}

#[test]
fn the_name_check_catches_a_broken_name() {
    let src = source();
    assert_eq!(check_name(&src, "Server::deliver"), None);
    assert_eq!(check_name(&src, "Sublist::match_in"), None);
    assert_eq!(check_name(&src, "events::next_event"), None);
    assert_eq!(check_name(&src, "Wakes"), None);
    for broken in [
        "Server::deliverr",
        "Server::match_in",
        "conn::deliver",
        "Wakez",
        "no_such_fn",
        "src/nowhere.rs",
    ] {
        assert!(check_name(&src, broken).is_some(), "{broken} passed");
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The `*.md` paths (with an optional `#anchor`) cited in `text`.
fn md_citations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ok = |c: char| c.is_ascii_alphanumeric() || "_-./#".contains(c);
    for (i, _) in text.match_indices(".md") {
        let start = text[..i]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| ok(c) && c != '#')
            .last()
            .map_or(i, |(j, _)| j);
        let tail = &text[i + 3..];
        let after = tail.chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `.mdx`, a method `.md5()`
        }
        let anchor_len = match tail.strip_prefix('#') {
            Some(anchor) => {
                1 + anchor
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .count()
            }
            None => 0,
        };
        let cited = &text[start..i + 3 + anchor_len];
        if cited.len() > 3 + anchor_len {
            out.push(cited.to_string());
        }
    }
    out
}

/// Why the citation `cited` (made in `from`) does not resolve, if it does not.
fn check_citation(from: &Path, cited: &str) -> Option<String> {
    let (path, anchor) = match cited.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (cited, None),
    };
    let path = path.trim_start_matches("./");
    let candidates = [
        from.parent().map(|d| d.join(path)),
        Some(root().join(path)),
        Some(root().join("docs").join(path)),
    ];
    let Some(file) = candidates.into_iter().flatten().find(|p| p.is_file()) else {
        return Some(format!("cites {cited}, not in the repository"));
    };
    let anchor = anchor?;
    let doc = fs::read_to_string(&file).ok()?;
    (!anchors(&doc).iter().any(|a| a == anchor))
        .then(|| format!("cites {cited}, which has no such section"))
}

/// The comments of a Rust file: whole comment lines, and what follows
/// ` // ` after code.
fn comments(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, l)| {
        let t = l.trim_start();
        let comment = if t.starts_with("//") {
            Some(t)
        } else {
            l.find(" // ").map(|i| &l[i + 1..])
        };
        comment.map(|c| (n + 1, c))
    })
}

/// Problems with the documents cited in Rust comments under `dirs`.
fn citation_problems(dirs: &[&str]) -> Vec<String> {
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| rust_files(&root().join(dir)))
        .collect();
    let mut problems = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for (line, comment) in comments(&text) {
            let at = format!("{}:{line}", file.display());
            for cited in md_citations(comment) {
                if let Some(p) = check_citation(file, &cited) {
                    problems.push(format!("{at}: {p}"));
                }
            }
            for outside in ["user-wishes", "shared/spec", "spec/", "§"] {
                if comment.contains(outside) {
                    problems.push(format!("{at}: cites `{outside}`, not in the repository"));
                }
            }
        }
    }
    problems
}

#[test]
fn every_document_cited_in_the_code_is_in_the_repository() {
    let problems = citation_problems(&[
        "src",
        "sublist/src",
        "sublist/tests",
        "loom-tests",
        "nats-bench/src",
        "nats-bench/tests",
        "benches",
        "tests",
    ]);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_link_between_documents_resolves() {
    let mut problems = Vec::new();
    let mut docs = vec![root().join("README.md")];
    if let Ok(entries) = fs::read_dir(root().join("docs")) {
        docs.extend(entries.flatten().map(|e| e.path()));
    }
    for doc in docs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = fs::read_to_string(doc).expect("read doc");
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or("");
            if target.contains("://") || !target.contains(".md") {
                continue;
            }
            if let Some(p) = check_citation(doc, target) {
                problems.push(format!("{}: {p}", doc.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_citation_check_catches_a_missing_document_or_section() {
    let here = root().join("src/lib.rs");
    assert_eq!(check_citation(&here, "docs/architecture.md"), None);
    assert_eq!(
        check_citation(&here, "docs/architecture.md#one-pub-socket-to-socket"),
        None
    );
    // Built at run time: a literal would itself be a citation of a missing
    // document.
    let missing = format!("docs/no-such-document.{}", "md");
    assert!(check_citation(&here, &missing).is_some());
    assert!(check_citation(&here, "docs/architecture.md#no-such-section").is_some());
    assert_eq!(
        md_citations("// see `docs/protocol.md#routes` and nats-bench/README.md."),
        ["docs/protocol.md#routes", "nats-bench/README.md"]
    );
}
