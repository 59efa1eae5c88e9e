//! The agent's modules form no cycle: the graph of its top-level modules, built from the
//! `crate::…` (and `super::…` reaching the crate root) paths of `agent/src`, is acyclic,
//! and every module uses only modules of lower layers ([`LAYERS`]): the till's state
//! ([`tillpass_agent::till`]) reaches nothing above it.
//!
//! Test code (`#[cfg(test)]` items and the files they declare) may use any module and is
//! left out; paths in comments are not code and are left out too. A cycle is printed with
//! the files that make each of its edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// A module's path inside the crate: `["sessions", "routes"]` for `sessions/routes.rs`.
type ModPath = Vec<String>;

/// `from → to → the files whose code makes that edge`.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn mod_path(root: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(root).unwrap();
    let mut parts: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn tokens(file: &Path) -> Vec<TokenTree> {
    let text = std::fs::read_to_string(file).unwrap();
    TokenStream::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()))
        .into_iter()
        .collect()
}

fn is_ident(t: Option<&TokenTree>, name: &str) -> bool {
    matches!(t, Some(TokenTree::Ident(i)) if i == name)
}

fn is_punct(t: Option<&TokenTree>, c: char) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn is_path_sep(ts: &[TokenTree], i: usize) -> bool {
    is_punct(ts.get(i), ':') && is_punct(ts.get(i + 1), ':')
}

/// Whether `ts[i..]` is `#[cfg(test)]` (or a `cfg` naming `test` without `not`).
fn is_cfg_test(ts: &[TokenTree], i: usize) -> bool {
    let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) = (ts.get(i), ts.get(i + 1)) else {
        return false;
    };
    if p.as_char() != '#' || g.delimiter() != Delimiter::Bracket {
        return false;
    }
    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
    if !is_ident(inner.first(), "cfg") {
        return false;
    }
    let text = g.stream().to_string();
    let words: BTreeSet<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .collect();
    words.contains("test") && !words.contains("not")
}

/// Where the item starting at `i` ends: after its `;` or its `{ … }` body.
fn item_end(ts: &[TokenTree], mut i: usize) -> usize {
    while i < ts.len() {
        match &ts[i] {
            TokenTree::Punct(p) if p.as_char() == ';' => return i + 1,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The modules `#[cfg(test)] mod name;` declares in `ts`.
fn test_only_children(ts: &[TokenTree], out: &mut Vec<String>) {
    let mut i = 0;
    while i < ts.len() {
        if is_cfg_test(ts, i) {
            let end = item_end(ts, i + 2);
            let item = &ts[i + 2..end];
            if let Some(at) = item.iter().position(|t| is_ident(Some(t), "mod"))
                && let Some(TokenTree::Ident(name)) = item.get(at + 1)
            {
                out.push(name.to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
}

/// The top-level modules the code in `ts` names, outside `#[cfg(test)]` items.
fn named_tops(ts: &[TokenTree], here: &ModPath, out: &mut BTreeSet<String>) {
    let mut i = 0;
    while i < ts.len() {
        if is_cfg_test(ts, i) {
            i = item_end(ts, i + 2);
            continue;
        }
        if let TokenTree::Group(g) = &ts[i] {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            named_tops(&inner, here, out);
            i += 1;
            continue;
        }
        // `crate::x`, `crate::{x, y::z}`
        if is_ident(ts.get(i), "crate") && is_path_sep(ts, i + 1) {
            match ts.get(i + 3) {
                Some(TokenTree::Ident(x)) => {
                    out.insert(x.to_string());
                }
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    let mut first = true;
                    for t in &inner {
                        match t {
                            TokenTree::Ident(x) if first => {
                                out.insert(x.to_string());
                                first = false;
                            }
                            TokenTree::Punct(p) if p.as_char() == ',' => first = true,
                            _ => first = false,
                        }
                    }
                }
                _ => {}
            }
            i += 4;
            continue;
        }
        // `super::super::x` reaching the crate root from `here`.
        if is_ident(ts.get(i), "super") && !(i >= 2 && is_path_sep(ts, i - 2)) {
            let mut k = 0;
            let mut j = i;
            while is_ident(ts.get(j), "super") && is_path_sep(ts, j + 1) {
                k += 1;
                j += 3;
            }
            if k == here.len()
                && let Some(TokenTree::Ident(x)) = ts.get(j)
            {
                out.insert(x.to_string());
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
}

/// The graph of the agent's top-level modules.
fn graph() -> Graph {
    let root = src();
    let lib = tokens(&root.join("lib.rs"));
    let mut tops = BTreeSet::new();
    let mut aliases = BTreeMap::new();
    for (i, t) in lib.iter().enumerate() {
        if is_ident(Some(t), "mod")
            && let Some(TokenTree::Ident(name)) = lib.get(i + 1)
        {
            tops.insert(name.to_string());
        }
        // `pub use a::b;` makes `crate::b` mean `a`.
        if is_ident(Some(t), "use") {
            let end = item_end(&lib, i);
            let path: Vec<String> = lib[i + 1..end]
                .iter()
                .filter_map(|t| match t {
                    TokenTree::Ident(x) => Some(x.to_string()),
                    _ => None,
                })
                .collect();
            if let (Some(first), Some(last)) = (path.first(), path.last()) {
                aliases.insert(last.clone(), first.clone());
            }
        }
    }
    assert!(tops.len() > 5, "no modules found in lib.rs");

    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.retain(
        |f| !matches!(mod_path(&root, f).as_slice(), [one] if one == "lib" || one == "main"),
    );
    let parsed: Vec<(ModPath, String, Vec<TokenTree>)> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            (mod_path(&root, f), rel, tokens(f))
        })
        .collect();

    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for (path, _, ts) in &parsed {
        let mut children = Vec::new();
        test_only_children(ts, &mut children);
        for c in children {
            let mut p = path.clone();
            p.push(c);
            test_only.insert(p);
        }
    }

    let mut graph = Graph::new();
    for (path, rel, ts) in &parsed {
        if (1..=path.len()).any(|n| test_only.contains(&path[..n])) {
            continue;
        }
        let from = path[0].clone();
        assert!(tops.contains(&from), "{rel}: not under a module of lib.rs");
        let mut named = BTreeSet::new();
        named_tops(ts, path, &mut named);
        for name in named {
            let to = aliases.get(&name).cloned().unwrap_or(name);
            if to != from && tops.contains(&to) {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(rel.clone());
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// A cycle of `graph`, if it has one, as the modules along it.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn describe(cycle: &[String], graph: &Graph) -> String {
    let mut text = format!("import cycle: {}\n", cycle.join(" → "));
    for pair in cycle.windows(2) {
        let files = &graph[&pair[0]][&pair[1]];
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        text += &format!("  {} → {}: {}\n", pair[0], pair[1], files.join(", "));
    }
    text
}

#[test]
fn the_agent_s_modules_have_no_import_cycle() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("{}", describe(&cycle, &graph));
    }
}

/// The agent's layers, from the bottom: a module uses only modules of lower layers
/// (`ARCHITECTURE.md`, "The agent's layers"). A new module gets its place here and there.
const LAYERS: &[&[&str]] = &[
    &["paths", "failpoint"],
    &["config"],
    &["telemetry", "clock"],
    &["store"],
    &["metrics", "catalog"],
    &["identify"],
    &["bus"],
    &["till"],
    &["edge"],
    &["sessions", "sync"],
    &["dashboard"],
    &["http"],
    &["daemon", "status"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn every_module_uses_only_lower_layers() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, edges) in &graph {
        let Some(above) = layer(from) else {
            wrong.push(format!(
                "`{from}` has no layer: give it one in LAYERS and in ARCHITECTURE.md"
            ));
            continue;
        };
        for (to, files) in edges {
            if layer(to).is_none_or(|below| below >= above) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                wrong.push(format!("`{from}` uses `{to}`: {}", files.join(", ")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "against the layering:\n{}",
        wrong.join("\n")
    );
    assert!(
        graph.contains_key("till") && graph.contains_key("http"),
        "the graph was built"
    );
}

#[test]
fn the_check_sees_a_cycle_and_test_code_is_left_out() {
    let here: ModPath = vec!["sessions".into(), "routes".into()];
    let code = "use crate::{http::X, store};\n\
                // crate::dashboard in a comment\n\
                fn f() { super::super::sync::go(); crate::bus::Bus::new(); }\n\
                #[cfg(test)]\nmod tests { use crate::daemon; }\n\
                #[cfg(test)]\nmod fixtures;";
    let ts: Vec<TokenTree> = TokenStream::from_str(code).unwrap().into_iter().collect();
    let mut named = BTreeSet::new();
    named_tops(&ts, &here, &mut named);
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    assert_eq!(named, ["bus", "http", "store", "sync"]);
    let mut children = Vec::new();
    test_only_children(&ts, &mut children);
    assert_eq!(children, ["tests", "fixtures"]);

    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    let cycle = find_cycle(&g).unwrap();
    assert_eq!(cycle, ["a", "b", "c", "a"]);
    let text = describe(&cycle, &g);
    assert!(text.contains("import cycle: a → b → c → a"), "{text}");
    assert!(text.contains("c → a: c.rs"), "{text}");
    g.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&g), None);
}
