//! Fig. B.1: the target function on the circle and the 15 training points of Fig. 1/2.

use std::path::{Path, PathBuf};

use serde_json::json;
use sgntk_model::data::{circle_points, targets, test_grid, train_angles};

use super::plots;
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::settings::TargetFigure;

/// Writes the CSV and the plot of the target; returns the summary and the files.
pub(crate) fn write(
    s: &TargetFigure,
    stem: &Path,
    format: crate::plot::Format,
) -> Result<(serde_json::Value, Vec<PathBuf>), ExpError> {
    let grid = test_grid(s.grid);
    let y: Vec<f64> = targets(&circle_points(&grid)).iter().copied().collect();
    let train = train_angles(s.data, s.train_points, s.data_seed).map_err(ExpError::Usage)?;
    let yt: Vec<f64> = targets(&circle_points(&train)).iter().copied().collect();
    let mut table = Table::new(&["curve", "alpha", "value"]);
    for (name, xs, ys) in [("target", &grid, &y), ("train", &train, &yt)] {
        for (a, v) in xs.iter().zip(ys.iter()) {
            table.push(&[Cell::Text(name), Cell::Num(*a), Cell::Num(*v)]);
        }
    }
    let csv = stem.with_extension("csv");
    table.write(&csv)?;
    let mut files = plots::target(&grid, &y, &train, &yt, stem, format)?;
    files.insert(0, csv);
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let summary = json!({
        "train_angles": train,
        "train_targets": yt,
        "target_min": lo,
        "target_max": hi,
    });
    Ok((summary, files))
}
