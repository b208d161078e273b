//! Fig. B.1: the target function on the circle and the 15 training points of Fig. 1/2.

use serde::{Deserialize, Serialize};
use sgntk_model::data::{circle_points, targets, test_grid};

use super::plots::{line, BLUE};
use super::{Figure, FigureRun, Written};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, LegendPos, Mark, Panel, Series};
use crate::settings::TargetFigure;

/// Fig. B.1: the target and the training points (nothing is trained).
pub struct Target;

impl Figure for Target {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        if run.opts.shard.is_some() {
            return Ok(None);
        }
        write(&run.opts.settings.b1, run).map(Some)
    }
}

/// The summary of Fig. B.1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// Their targets.
    pub train_targets: Vec<f64>,
    /// Smallest target value on the plotted curve.
    pub target_min: f64,
    /// Largest target value on the plotted curve.
    pub target_max: f64,
}

/// Writes the CSV and the plot of the target; returns the summary and the files.
fn write(s: &TargetFigure, run: &FigureRun) -> Result<Written, ExpError> {
    let grid = test_grid(s.points.grid);
    let y: Vec<f64> = targets(&circle_points(&grid)).iter().copied().collect();
    let train = s.points.train_angles().map_err(ExpError::Usage)?;
    let yt: Vec<f64> = targets(&circle_points(&train)).iter().copied().collect();
    let mut table = Table::new(&["curve", "alpha", "value"]);
    for (name, xs, ys) in [("target", &grid, &y), ("train", &train, &yt)] {
        for (a, v) in xs.iter().zip(ys.iter()) {
            table.push(&[Cell::Text(name), Cell::Num(*a), Cell::Num(*v)]);
        }
    }
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let plot = target(&grid, &y, &train, &yt);
    let summary = TargetSummary {
        train_angles: train,
        train_targets: yt,
        target_min: lo,
        target_max: hi,
    };
    run.write(&table, &plot, &summary)
}

/// Fig. B.1: the target and the training points.
fn target(x: &[f64], y: &[f64], xt: &[f64], yt: &[f64]) -> plot::Figure {
    let mut p = Panel::new("target f(x(α)) on the unit circle", "α", "f");
    let target = line("target", x, y, BLUE, Mark::Line(2));
    let train = Series::crosses("training points", xt, yt);
    p.series.extend([target, train]);
    p.legend = Some(LegendPos::UpperLeft);
    plot::Figure::new(None, (1, 1), (640, 420), vec![p])
}
