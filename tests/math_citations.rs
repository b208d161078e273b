//! Every citation of `docs/MATH.md` in code and docs names a section that exists there, and nothing
//! cites the project's private steering notes (users do not have them).
//!
//! A citation is `MATH.md §N`, `MATH.md §N/§M`, `MATH.md §N–M` or `MATH.md section N`; the sections
//! are the `## N. Title` headings of `docs/MATH.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The section numbers of `docs/MATH.md` (`## 5. Analytic kernels` → 5).
fn sections(math: &str) -> BTreeSet<u32> {
    math.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split('.').next()?.trim().parse().ok())
        .collect()
}

/// The section numbers cited right after each `MATH.md` in `text`.
fn citations(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("MATH.md") {
        let rest = &text[at + "MATH.md".len()..];
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let Some(mut rest) = rest
            .strip_prefix('§')
            .or_else(|| rest.strip_prefix("section "))
        else {
            continue;
        };
        let mut previous: Option<u32> = None;
        let mut range = false;
        loop {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let Ok(n) = digits.parse::<u32>() else { break };
            match (range, previous) {
                (true, Some(p)) => out.extend(p + 1..=n),
                _ => out.push(n),
            }
            previous = Some(n);
            rest = &rest[digits.len()..];
            let (sep, after) = match rest.chars().next() {
                Some(c @ ('/' | '–' | ',')) => (c, &rest[c.len_utf8()..]),
                _ => break,
            };
            range = sep == '–';
            rest = after.strip_prefix('§').unwrap_or(after);
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "node_modules" | "data") {
                walk(&path, files);
            }
        } else if [".rs", ".md", ".py", ".toml", ".pyi"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            files.push(path);
        }
    }
}

#[test]
fn math_citations_name_existing_sections() {
    let root = root();
    let math = std::fs::read_to_string(root.join("docs/MATH.md")).unwrap();
    let known = sections(&math);
    assert!(
        (1..=8).all(|n| known.contains(&n)),
        "docs/MATH.md sections: {known:?}"
    );
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    for dir in ["crates", "src", "tests", "examples", "docs", "bench"] {
        walk(&root.join(dir), &mut files);
    }
    let private = ["SPEC ", "§"].concat();
    let private_file = ["SPEC", ".md"].concat();
    let mut bad = Vec::new();
    let mut cited = 0;
    // This file quotes citations of missing sections on purpose (the parser's own test).
    files.retain(|f| !f.ends_with("tests/math_citations.rs"));
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let shown = file.strip_prefix(&root).unwrap_or(file).display();
        for n in citations(&text) {
            cited += 1;
            if !known.contains(&n) {
                bad.push(format!(
                    "{shown}: cites docs/MATH.md §{n}, which does not exist"
                ));
            }
        }
        if text.contains(&private) || text.contains(&private_file) {
            bad.push(format!(
                "{shown}: cites the steering notes; cite docs/MATH.md instead"
            ));
        }
    }
    assert!(
        cited > 20,
        "only {cited} citations found: is the scan broken?"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn citation_parser_reads_lists_and_ranges() {
    assert_eq!(citations("see docs/MATH.md §5."), vec![5]);
    assert_eq!(citations("(docs/MATH.md §1/§5, paper)"), vec![1, 5]);
    assert_eq!(citations("docs/MATH.md §1–3"), vec![1, 2, 3]);
    assert_eq!(
        citations("docs/MATH.md section 7 and MATH.md §9"),
        vec![7, 9]
    );
    assert!(citations("docs/MATH.md is binding").is_empty());
    assert_eq!(
        sections("# t\n## 1. A\ntext\n## 12. B\n### 3. not"),
        BTreeSet::from([1, 12])
    );
}
