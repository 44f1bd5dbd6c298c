//! The layout the code promises in `docs/architecture.md`, checked on the source itself:
//!
//! - the server's top-level modules (`http`, `tiers`, `index`, …) depend on each other without
//!   a cycle, and so do the sibling files inside each of them (a parent and the children that
//!   implement its types, like `tiers/mod.rs` and `tiers/moves.rs`, are one unit);
//! - no production `.rs` file of the workspace is over 400 lines unless its header says why.
//!
//! A dependency is any `crate::<module>` path (or `super::<sibling>` inside a module) in the
//! file, `use` or not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `tiers/moves.rs` → `["tiers", "moves"]`,
/// `tiers/mod.rs` → `["tiers"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The names that follow `prefix` in `text`: `crate::tiers::Chain` → `tiers`, and
/// `super::{blob::Blob, Chain}` → `blob`, `Chain`.
fn names_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let ident_end = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        // Not the tail of a longer name or path (`my_crate::`, `a::super::`).
        if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item of the group, at its top level.
            let (mut depth, mut start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        let item = group[start..j].trim_start();
                        out.push(&item[..ident_end(item)]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = group[start..j].trim_start();
                        out.push(&item[..ident_end(item)]);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(&rest[..ident_end(rest)]);
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Code without comments, so doc links and prose do not count as dependencies.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A cycle in `graph`, if there is one, as the path that closes it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut c = path[start..].to_vec();
                c.push(node.to_owned());
                return Some(c);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn server_modules_have_no_import_cycles() {
    let src = root().join("native-server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: Vec<(Vec<String>, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            (module_of(&src, f), code_of(&text))
        })
        .collect();
    let top: BTreeSet<String> = modules
        .iter()
        .filter_map(|(m, _)| m.first().cloned())
        .collect();
    assert!(top.len() >= 8, "too few modules found: {top:?}");

    // Top-level modules.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &modules {
        let Some(from) = module.first() else { continue };
        let entry = graph.entry(from.clone()).or_default();
        for to in names_after(code, "crate::") {
            if to != from && top.contains(to) {
                entry.insert(to.to_owned());
            }
        }
    }
    assert_eq!(
        cycle(&graph),
        None,
        "a cycle between top-level modules: {graph:#?}"
    );
    assert!(
        graph["runtime"].is_empty() && graph["metrics"].is_empty(),
        "runtime and metrics depend on nothing of the server's: {graph:#?}"
    );

    // Siblings inside each module: `super::<sibling>` and `crate::<parent>::<sibling>`.
    let mut checked = 0;
    for parent in &top {
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|(m, _)| m.len() == 2 && &m[0] == parent)
            .map(|(m, _)| m[1].clone())
            .collect();
        let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, code) in modules
            .iter()
            .filter(|(m, _)| m.len() >= 2 && &m[0] == parent)
        {
            let from = &module[1];
            let mut uses: Vec<&str> = names_after(code, "super::");
            uses.extend(names_after(code, &format!("crate::{parent}::")));
            let entry = siblings.entry(from.clone()).or_default();
            for to in uses {
                if to != from && children.contains(to) {
                    entry.insert(to.to_owned());
                }
            }
        }
        assert_eq!(
            cycle(&siblings),
            None,
            "a cycle between the files of {parent}/: {siblings:#?}"
        );
        checked += usize::from(!siblings.is_empty());
    }
    assert!(checked >= 5, "sibling graphs checked: {checked}");
}

#[test]
fn long_files_say_why() {
    let mut files = Vec::new();
    for dir in ["core/src", "edge-worker/src", "native-server/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut long = Vec::new();
    for f in files {
        // Unit tests live in `tests.rs` files beside their module; they are not production code.
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        let lines = text.lines().count();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        if lines > 400 && !header.contains("over 400 lines") {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over 400 lines with no reason in the header (`Why this file is over 400 lines: …`): {long:#?}"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    assert_eq!(
        names_after(
            "use crate::tiers::Chain; x::crate::no; crate::index",
            "crate::"
        ),
        ["tiers", "index"]
    );
    assert_eq!(
        names_after("use super::{blob::Blob, Chain, x::{y, z}};", "super::"),
        ["blob", "Chain", "x"]
    );
    assert_eq!(
        code_of("let a = 1; // crate::tiers\n//! crate::x"),
        "let a = 1; \n"
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
    g.insert("b".to_owned(), BTreeSet::new());
    assert_eq!(cycle(&g), None);
}
