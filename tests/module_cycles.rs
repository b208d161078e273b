//! No two source files of one crate use each other: a cycle between modules means a type lives in
//! the wrong place. A file's uses are its `crate::…` and `super::…` paths (in `use` trees and in
//! code, test modules excluded), each resolved to the longest module path it names.

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

/// The paths that start at every `crate::` / `super::` of `code`, relative to the crate root
/// (`module` is the file's own module); a `{a, b::c}` group gives one path per item.
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
        let mut rest = &code[start + head.len()..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        loop {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            base.push(rest[..end].to_string());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let mut p = base.clone();
                    let item = item.split('{').next().unwrap_or("");
                    p.extend(
                        item.split("::")
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from),
                    );
                    out.push(p);
                }
            }
            None => out.push(base),
        }
    }
    out
}

/// Pairs of modules of the crate in `src` that use each other.
fn cycles(src: &Path) -> Vec<(String, String)> {
    let mods = modules(src);
    let mut uses: BTreeMap<&Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &mods {
        for path in paths(module, &code(text)) {
            let target = (0..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|m| mods.contains_key(m))
                .unwrap_or_default();
            // A module may use its ancestors (re-exports) and itself.
            if !module.starts_with(&target) {
                uses.entry(module).or_default().insert(target);
            }
        }
    }
    let name = |m: &Module| {
        if m.is_empty() {
            "lib".into()
        } else {
            m.join("::")
        }
    };
    let mut out = Vec::new();
    for (a, targets) in &uses {
        for b in targets {
            if *a < b && uses.get(b).is_some_and(|t| t.contains(*a)) {
                out.push((name(a), name(b)));
            }
        }
    }
    out
}

#[test]
fn no_two_files_of_a_crate_use_each_other() {
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
    // The checker itself: two files that use each other, through `use` groups and code paths.
    let dir = std::env::temp_dir().join(format!("sgntk-cycles-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let file = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    file("lib.rs", "mod a;\nmod b;\npub use a::A;\n");
    file(
        "a.rs",
        "use crate::{b::inner::B, lib_item};\npub struct A;\n",
    );
    file("b/mod.rs", "pub mod inner;\n");
    file(
        "b/inner.rs",
        "pub struct B;\nfn f() -> super::super::a::A { todo!() }\n",
    );
    let found = cycles(&dir);
    file("b/inner.rs", "pub struct B;\n// crate::a::A in a comment\n");
    let none = cycles(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, vec![("a".to_string(), "b::inner".to_string())]);
    assert!(none.is_empty(), "{none:?}");
}
