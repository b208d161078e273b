//! The published paper-scale results (`docs/reproduction/`, see `docs/REPRODUCTION.md`) cannot
//! silently go stale: every registered figure has its JSON report there, run at the paper preset
//! with exactly the settings the current code's paper preset gives, next to its PNG and SVG.
//! Change a paper-preset setting and this test fails until the figure is rerun and republished.

use std::path::PathBuf;

use sgntk::experiments::{FigureId, Preset, Settings};

fn published() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/reproduction")
}

/// Where a figure's paper-preset run is published: `docs/reproduction/`, or `docs/beyond/` for
/// the studies beyond the paper (`docs/BEYOND.md`).
fn published_for(stem: &str) -> PathBuf {
    match stem {
        "digits" => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/beyond"),
        _ => published(),
    }
}

#[test]
fn published_results_match_the_paper_preset() {
    let paper = Settings::preset(Preset::Paper);
    for id in FigureId::all() {
        let stem = id.stem();
        let path = published_for(stem).join(format!("{stem}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (rerun the figure, see docs/REPRODUCTION.md)",
                path.display()
            )
        });
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["figure"], stem);
        assert_eq!(report["preset"], "paper", "{stem}");
        let want = paper.table(id.settings_table()).unwrap();
        assert_eq!(
            report["settings"], want,
            "{stem}: the published run used other settings than the current paper preset; rerun it"
        );
        assert!(report["summary"].is_object(), "{stem}");
        for ext in ["png", "svg"] {
            let file = published_for(stem).join(format!("{stem}.{ext}"));
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(len > 100, "{} missing or empty", file.display());
        }
    }
}

/// The published CSV of `stem` (plain, or gzip-compressed when over 1 MB), if any.
fn published_csv(stem: &str) -> Option<PathBuf> {
    ["csv", "csv.gz"]
        .iter()
        .map(|ext| published_for(stem).join(format!("{stem}.{ext}")))
        .find(|p| p.exists())
}

/// Every figure's data is published (B.3/B.4 are computed from Fig. 1/2's, which hold them), and
/// files over 1 MB are compressed.
#[test]
fn every_figure_publishes_its_data() {
    for id in FigureId::all() {
        let stem = id.stem();
        let path = published_csv(stem).unwrap_or_else(|| {
            panic!(
                "{}/{stem}.csv(.gz) is missing",
                published_for(stem).display()
            )
        });
        let len = std::fs::metadata(&path).unwrap().len();
        let gz = path.extension().is_some_and(|e| e == "gz");
        assert!(
            gz || len <= 1 << 20,
            "{}: {len} bytes: compress it",
            path.display()
        );
    }
}

/// `sgntk stats` recomputes the published Fig. 3 tables (Fig. 3a, B.2, the κ study) from the
/// published CSVs alone, to the bit (all but the final loss, which the CSV does not hold).
#[test]
fn stats_recompute_the_published_tables() {
    let mut checked = Vec::new();
    for stem in ["fig3a", "figb2", "kappa"] {
        let csv = published_csv(stem).unwrap_or_else(|| panic!("{stem}: no CSV"));
        let text = std::fs::read_to_string(published().join(format!("{stem}.json"))).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let summary = &report["summary"];
        let table = summary
            .get("cells")
            .or_else(|| summary.get("widths"))
            .and_then(|t| t.as_array())
            .unwrap_or_else(|| panic!("{stem}: no table in the summary"));
        let groups = sgntk::experiments::stats::stats_of_file(&csv).unwrap();
        let recomputed: Vec<serde_json::Value> = groups
            .iter()
            .flat_map(|g| &g.widths)
            // through the published files' text form (serde_json parses decimal text the same
            // way on both sides; its default parser is not exactly rounding)
            .map(|w| serde_json::from_str(&serde_json::to_string(w).unwrap()).unwrap())
            .collect();
        assert_eq!(recomputed.len(), table.len(), "{stem}");
        for (r, want) in recomputed.iter().zip(table) {
            for (key, value) in r.as_object().unwrap() {
                assert_eq!(&want[key], value, "{stem}: {key} of {want}");
            }
        }
        checked.push(stem);
    }
    assert_eq!(checked, ["fig3a", "figb2", "kappa"]);
}
