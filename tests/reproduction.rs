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
