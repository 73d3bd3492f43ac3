//! The seam's rules, checked on the source itself so a change that breaks them fails `cargo test`:
//! no wire imports another wire, nothing outside `routes/` but the router's assembly (`app.rs`)
//! imports `routes/`, and the files of `server/src` import each other without cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b…` path a file names (in `use` lines or inline), as its segments.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let path: Vec<String> = tail[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if !path.is_empty() {
                out.push(path);
            }
            rest = &tail[end..];
        }
        // `use crate::{a, b::c}` groups name several top-level modules at once.
        if let Some(group) = line.strip_prefix("use crate::{") {
            for part in group.split([',', '}', ';']) {
                let first = part.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    out.push(vec![first.to_string()]);
                }
            }
        }
    }
    out
}

struct Source {
    /// Path below `server/src`, e.g. `routes/bedrock/mod.rs`.
    rel: String,
    text: String,
}

fn all_sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .map(|p| Source {
            rel: p
                .strip_prefix(&root)
                .expect("below src")
                .to_string_lossy()
                .replace('\\', "/"),
            text: fs::read_to_string(&p).expect("readable source"),
        })
        .collect()
}

/// The wire a file under `routes/` belongs to (`routes/bedrock/invoke/nova.rs` -> `bedrock`).
fn wire_of(rel: &str) -> Option<String> {
    let rest = rel.strip_prefix("routes/")?;
    let first = rest.split('/').next()?.trim_end_matches(".rs");
    (first != "mod").then(|| first.to_string())
}

#[test]
fn no_wire_imports_another_wire() {
    let mut offences = Vec::new();
    for s in all_sources() {
        let Some(own) = wire_of(&s.rel) else { continue };
        for path in crate_paths(&s.text) {
            if path.first().map(String::as_str) == Some("routes")
                && let Some(other) = path.get(1)
                && *other != own
            {
                offences.push(format!("{} names crate::routes::{other}", s.rel));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "wire-to-wire imports:\n{}",
        offences.join("\n")
    );
}

#[test]
fn only_the_router_assembly_imports_routes() {
    let offences: Vec<String> = all_sources()
        .into_iter()
        .filter(|s| !s.rel.starts_with("routes/") && !["app.rs", "lib.rs"].contains(&s.rel.as_str()))
        .filter(|s| crate_paths(&s.text).iter().any(|p| p[0] == "routes"))
        .map(|s| s.rel)
        .collect();
    assert!(offences.is_empty(), "import routes/ from outside: {offences:?}");
}

/// The file a `crate::…` path names: its longest prefix that is a module file.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let m = path[..n].join("/");
        [format!("{m}.rs"), format!("{m}/mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

#[test]
fn the_files_import_each_other_without_cycles() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let sources = all_sources();
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    for s in &sources {
        // lib.rs and main.rs declare and re-export every module: they are the roots, not edges.
        if s.rel == "lib.rs" || s.rel == "main.rs" {
            continue;
        }
        for path in crate_paths(&s.text) {
            if let Some(to) = file_of(&path, &files)
                && to != s.rel
            {
                graph.entry(s.rel.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(graph.contains_key("app.rs"), "the graph was read");
}
