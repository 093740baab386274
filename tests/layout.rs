//! The house rule CONTRIBUTING states: no two modules of the crate import each other, directly or
//! around a circle: neither the top-level modules (`plan`, `cluster`, `error`, ...) nor the rooms
//! inside one (`engine/index.rs`, `engine/hints.rs`, ...). Read from the sources: a `crate::` or
//! `super::` path that names another module is an import of it (doc comments and tests aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/engine/index.rs` -> `engine::index`; `src/engine/mod.rs` -> `engine`.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)] mod` (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Every path starting at `crate::` or `super::` in `code`, as the segments after it, with grouped
/// imports (`use super::{a, b::c}`) expanded to their first segment.
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for root in ["crate", "super"] {
        let mut rest = code;
        let needle = format!("{root}::");
        while let Some(at) = rest.find(&needle) {
            let before = rest[..at].chars().last();
            rest = &rest[at + needle.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    let first = item.trim().split("::").next().unwrap_or_default().trim();
                    out.push((root == "crate", vec![first.to_string()]));
                }
                continue;
            }
            let segments: Vec<String> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .filter(|s| !s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase()))
                .map(String::from)
                .collect();
            out.push((root == "crate", segments));
        }
    }
    out
}

/// The edges between modules of one level: top-level modules (depth 1), or rooms of one parent (depth 2).
fn edges(depth: usize) -> BTreeMap<Module, BTreeSet<Module>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files.iter().map(|f| (module_of(&src, f), f.clone())).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &modules {
        let name = file.file_name().unwrap().to_string_lossy();
        if name.ends_with("_tests.rs") || module.as_slice() == ["main"] || module.is_empty() {
            continue;
        }
        for (from_crate, segments) in paths(&code(&std::fs::read_to_string(file).unwrap())) {
            // `super::` of `engine::index` (engine/index.rs) and of `engine` (engine/mod.rs) alike is
            // the module above.
            let mut target: Module = if from_crate { vec![] } else { module[..module.len() - 1].to_vec() };
            target.extend(segments);
            // The longest prefix that is a module of the crate.
            let Some(target) = (1..=target.len()).rev().map(|k| target[..k].to_vec()).find(|m| modules.contains_key(m))
            else {
                continue;
            };
            let (a, b) = (prefix(module, depth), prefix(&target, depth));
            if a != b && a[..a.len().min(depth - 1)] == b[..b.len().min(depth - 1)] {
                graph.entry(a).or_default().insert(b);
            }
        }
    }
    graph
}

fn prefix(module: &Module, depth: usize) -> Module {
    module[..module.len().min(depth)].to_vec()
}

/// A circle through `start`, if there is one.
fn circle(graph: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_another_around_a_circle() {
    for depth in [1, 2, 3] {
        let graph = edges(depth);
        assert!(!graph.is_empty() || depth == 3, "no imports found at depth {depth}: the reader is broken");
        for module in graph.keys() {
            if let Some(circle) = circle(&graph, module) {
                let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
                panic!("import circle: {} -> {}", names.join(" -> "), names[0]);
            }
        }
    }
}

#[test]
fn the_reader_sees_a_circle_where_there_is_one() {
    let graph: BTreeMap<Module, BTreeSet<Module>> = [
        (vec!["plan".to_string()], BTreeSet::from([vec!["cluster".to_string()]])),
        (vec!["cluster".to_string()], BTreeSet::from([vec!["error".to_string()]])),
        (vec!["error".to_string()], BTreeSet::from([vec!["plan".to_string()]])),
    ]
    .into();
    assert!(circle(&graph, &vec!["plan".to_string()]).is_some());
    let found = paths("use super::{index::Index, rules};\nlet x = crate::engine::hints::reconcile(a);");
    assert_eq!(
        found,
        vec![
            (true, vec!["engine".to_string(), "hints".to_string(), "reconcile".to_string()]),
            (false, vec!["index".to_string()]),
            (false, vec!["rules".to_string()]),
        ]
    );
}
