//! No cycle between the source files of one crate (a → b → … → a): such a cycle means a type lives
//! in the wrong place. A file's uses are its `crate::…` and `super::…` paths (in `use` trees and
//! in code, test modules excluded), each resolved to the longest module path it names; a child
//! using its ancestors' items (the usual `mod.rs` pattern) is not an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of the crate whose sources are in `src`, with its file's text.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = rel.iter().map(|p| p.to_string_lossy().into()).collect();
            if matches!(
                module.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                module.pop();
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// `text` without line comments and without its `#[cfg(test)] mod …` block (at the end).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses one use tree at the start of `s` (`a::b`, `a::{b, c::{d, e}}`, `self`, `*`, `x as y`),
/// pushing `prefix` + each path it names; returns the rest of `s`.
fn use_tree<'a>(s: &'a str, prefix: &Module, out: &mut Vec<Module>) -> &'a str {
    let s = s.trim_start();
    if let Some(mut rest) = s.strip_prefix('{') {
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                return r;
            }
            if rest.is_empty() {
                return rest;
            }
            rest = use_tree(rest, prefix, out).trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let end = s.find(|c: char| !ident(c)).unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    let mut path = prefix.clone();
    if !name.is_empty() && name != "self" {
        path.push(name.to_string());
    }
    match rest.trim_start().strip_prefix("::") {
        Some(r) if !name.is_empty() => use_tree(r, &path, out),
        _ => {
            out.push(path);
            rest
        }
    }
}

/// The paths that start at every `crate::` / `super::` of `code` (in `use` trees and in code),
/// relative to the crate root (`module` is the file's own module).
fn paths(module: &Module, code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    for (start, head) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if code[..start].ends_with(|c: char| ident(c) || c == ':') {
            continue; // `super::super::` is read from its first `super`
        }
        let mut base: Module = if head == "super::" {
            module[..module.len().saturating_sub(1)].to_vec()
        } else {
            Vec::new()
        };
        let mut rest = code[start + head.len()..].trim_start();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r.trim_start();
        }
        use_tree(rest, &base, &mut out);
    }
    out
}

/// The module graph of the crate in `src`: an edge a → b when a file uses an item of module b
/// (b is neither a itself nor one of its ancestors, whose items a child may always use).
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mods = modules(src);
    let mut uses: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &mods {
        let edges = uses.entry(module.clone()).or_default();
        for path in paths(module, &code(text)) {
            let target = (0..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|m| mods.contains_key(m))
                .unwrap_or_default();
            if !module.starts_with(&target) {
                edges.insert(target);
            }
        }
    }
    uses
}

/// The cycles of the module graph of the crate in `src`: each strongly connected component of
/// more than one module (Tarjan), as module names.
fn cycles(src: &Path) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, (usize, usize)>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g Module) -> usize {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            let mut low = n;
            for w in &self.graph[v] {
                match self.index.get(w) {
                    None => low = low.min(self.visit(w)),
                    Some(&(i, _)) if self.stack.contains(&w) => low = low.min(i),
                    Some(_) => {}
                }
            }
            self.index.insert(v, (n, low));
            if low == n {
                let at = self.stack.iter().position(|m| *m == v).unwrap();
                let component: Vec<&Module> = self.stack.split_off(at);
                if component.len() > 1 {
                    let name = |m: &Module| {
                        if m.is_empty() {
                            "lib".into()
                        } else {
                            m.join("::")
                        }
                    };
                    self.found.push(component.into_iter().map(name).collect());
                }
            }
            low
        }
    }
    let graph = graph(src);
    let mut t = Tarjan {
        graph: &graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found
}

#[test]
fn no_module_cycles_in_any_crate() {
    for src in [
        "crates/model/src",
        "crates/ntk/src",
        "crates/experiments/src",
        "src",
    ] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
        let found = cycles(&src);
        assert!(found.is_empty(), "{}: {found:?}", src.display());
    }
}

#[test]
fn a_cycle_is_found() {
    // The checker itself, on small crates: a 2-cycle through a nested `use` group and a
    // `super::super::` path in code, a 3-cycle through a path broken across lines, and none
    // once the use is only in a comment or goes to an ancestor.
    let dir = std::env::temp_dir().join(format!("sgntk-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let file = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    file("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::A;\n");
    file(
        "a.rs",
        "use crate::{lib_item, b::{x, inner::{B, C}}};\npub struct A;\n",
    );
    file("b/mod.rs", "pub mod inner;\n");
    file(
        "b/inner.rs",
        "pub struct B;\nfn f() -> super::super::a::A { todo!() }\n",
    );
    file("c.rs", "pub struct C;\n");
    let two = cycles(&dir);
    file(
        "b/inner.rs",
        "pub struct B;\n// crate::a::A in a comment\nuse super::x;\n",
    );
    let none = cycles(&dir);
    file(
        "b/inner.rs",
        "pub fn g() -> crate::\n    c::C { todo!() }\n",
    );
    file("c.rs", "pub struct C;\nuse crate::a::A;\n");
    let three = cycles(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(two, vec![vec!["a".to_string(), "b::inner".to_string()]]);
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(three.len(), 1, "{three:?}");
    assert_eq!(three[0].len(), 3, "{three:?}");
}
