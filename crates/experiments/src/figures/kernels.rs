//! Fig. 1 / Fig. 2 (kernel slices at t = 0 and after training) and Fig. B.3 / B.4 (MSE to the
//! analytic kernel vs width), computed from the same cached networks.
//!
//! Slices follow the authors' code: K(x(α_i), x(0)) over the test grid, the grid point first (it
//! carries the true derivative), x(α) = (sin α, cos α), so Δα = α_i.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sgntk_model::data::{circle_points, targets, test_grid, uniform_angles};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, LearningRule, MlpConfig, Surrogate, TrainConfig, TrainSet};
use sgntk_ntk::empirical::{ensemble_mean, mse as stats_mse, train_with_kernels, KernelPair};
use sgntk_ntk::{kernel_matrix, KernelKind, KernelSpec, Method};

use super::{cache, chunk_ensemble, chunks, figure_bar, parallel_map, plots, widths};
use super::{ChunkCount, RunOptions};
use crate::cache::exact;
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::settings::KernelFigure;

/// Kernel slices of one (m, n) cell.
#[derive(Clone, Debug)]
pub struct KernelCell {
    /// m of erf_m.
    pub m: f64,
    /// Hidden width n.
    pub width: usize,
    /// Empirical slices at t = 0, one per network.
    pub init: Vec<Vec<f64>>,
    /// Empirical slices after `steps` training steps, one per network.
    pub trained: Vec<Vec<f64>>,
    /// The analytic kernel (infinite width, same m).
    pub analytic: Vec<f64>,
    /// Mean training loss at t = 0 and after training.
    pub loss: (f64, f64),
}

/// Everything Fig. 1/2 and B.3/B.4 plot.
#[derive(Clone, Debug)]
pub struct KernelData {
    /// The settings.
    pub settings: KernelFigure,
    /// Δα of the slice.
    pub grid: Vec<f64>,
    /// Training angles.
    pub train_angles: Vec<f64>,
    /// Cells, m-major.
    pub cells: Vec<KernelCell>,
    /// The m → ∞ (sign) analytic kernel (+∞ where singular), one per figure.
    pub limit: Vec<f64>,
    /// Whether this is the NTK (GD) or the SG-NTK (SGL).
    pub sgl: bool,
}

/// A saved chunk of trained networks.
#[derive(Serialize, Deserialize)]
struct ChunkKernels {
    #[serde(with = "exact")]
    init: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    trained: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    loss: (f64, f64),
}

/// What a chunk's result depends on (the cache key).
#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    m: f64,
    width: usize,
    depth: usize,
    sigma_w: f64,
    sigma_b: f64,
    surrogate: Surrogate,
    steps: usize,
    lr: f64,
    train_points: usize,
    data_seed: u64,
    grid: usize,
    seed: u64,
    backend: &'a str,
    members: (usize, usize),
}

fn analytic_slice(
    s: &KernelFigure,
    activation: Activation,
    x: &DMatrix<f64>,
    x0: &DMatrix<f64>,
) -> Result<Vec<f64>, ExpError> {
    let spec = KernelSpec {
        depth: s.depth,
        sigma_w: s.sigma_w,
        sigma_b: s.sigma_b,
        activation,
        surrogate: s.surrogate,
        kappa: 1.0,
        method: Method::default(),
    };
    let kind = if s.surrogate == Surrogate::True {
        KernelKind::Ntk
    } else {
        KernelKind::SgNtk
    };
    Ok(kernel_matrix(&spec, kind, x, x0)?.iter().copied().collect())
}

/// Trains (or loads) every cell's networks and computes the empirical and analytic slices.
pub(crate) fn compute(
    s: &KernelFigure,
    opts: &RunOptions,
    name: &str,
    count: &mut ChunkCount,
) -> Result<KernelData, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let device = opts.backend.device()?;
    let grid = test_grid(s.grid);
    let x = circle_points(&grid);
    let x0 = circle_points(&[0.0]);
    let train_angles = uniform_angles(s.train_points, s.data_seed);
    let xt = circle_points(&train_angles);
    let data = TrainSet {
        y: targets(&xt),
        x: xt,
    };
    let sgl = s.surrogate != Surrogate::True;
    let (rule, pair) = if sgl {
        (
            LearningRule::Sgl(s.surrogate),
            KernelPair::sg_ntk(s.surrogate),
        )
    } else {
        (LearningRule::Gd, KernelPair::NTK)
    };
    let cache = cache(opts);
    let backend = opts.backend.to_string();
    let parts = chunks(s.nets, s.chunk);
    let total = (s.ms.len() * s.widths.len() * parts.len() * s.steps) as u64;
    let pb = figure_bar(opts, total, name);
    let config = |m: f64, width: usize| MlpConfig {
        sigma_w: s.sigma_w,
        sigma_b: s.sigma_b,
        ..MlpConfig::new(widths(width, s.depth), Activation::Erf { m })
    };
    // every (m, n, chunk) is one independent job
    let jobs: Vec<(f64, usize, Range<usize>)> =
        s.ms.iter()
            .flat_map(|&m| s.widths.iter().map(move |&w| (m, w)))
            .flat_map(|(m, w)| parts.iter().map(move |r| (m, w, r.clone())))
            .collect();
    let results = parallel_map(jobs.len(), opts.threads, |i| {
        let (m, width, range) = jobs[i].clone();
        let key = ChunkKey {
            what: "kernel-slices",
            m,
            width,
            depth: s.depth,
            sigma_w: s.sigma_w,
            sigma_b: s.sigma_b,
            surrogate: s.surrogate,
            steps: s.steps,
            lr: s.lr,
            train_points: s.train_points,
            data_seed: s.data_seed,
            grid: s.grid,
            seed: opts.seed,
            backend: &backend,
            members: (range.start, range.end),
        };
        let (chunk, hit) = cache.get_or_compute(&key, || {
            let mut ens = chunk_ensemble(&config(m, width), opts.seed, range.clone(), &device)?;
            let train_cfg = TrainConfig {
                rule,
                lr: s.lr,
                steps: s.steps,
                ..TrainConfig::default()
            };
            let tick = (s.steps / 100).max(1);
            let mut last = 0;
            let (report, rec) = train_with_kernels(
                &mut ens,
                &data,
                &train_cfg,
                &[0, s.steps],
                &x,
                &x0,
                pair,
                tick,
                |t| {
                    pb.inc((t - last) as u64);
                    last = t;
                },
            )?;
            let slices = |i: usize| -> Vec<Vec<f64>> {
                rec[i]
                    .kernels
                    .iter()
                    .map(|k| k.iter().copied().collect())
                    .collect()
            };
            Ok(ChunkKernels {
                init: slices(0),
                trained: slices(rec.len() - 1),
                loss: (
                    report.loss[0],
                    *report.loss.last().expect("steps + 1 losses"),
                ),
            })
        })?;
        if hit {
            pb.inc(s.steps as u64);
        }
        Ok((chunk, hit))
    })?;
    let mut cells: Vec<KernelCell> = Vec::new();
    for ((m, width, range), (chunk, hit)) in jobs.iter().zip(results) {
        if hit {
            count.resumed += 1;
        } else {
            count.trained += 1;
        }
        if cells.last().is_none_or(|c| c.m != *m || c.width != *width) {
            cells.push(KernelCell {
                m: *m,
                width: *width,
                init: Vec::new(),
                trained: Vec::new(),
                analytic: analytic_slice(s, Activation::Erf { m: *m }, &x, &x0)?,
                loss: (0.0, 0.0),
            });
        }
        let cell = cells.last_mut().expect("pushed above");
        let w = range.len() as f64 / s.nets as f64;
        cell.loss.0 += w * chunk.loss.0;
        cell.loss.1 += w * chunk.loss.1;
        cell.init.extend(chunk.init);
        cell.trained.extend(chunk.trained);
    }
    pb.finish_and_clear();
    let limit = analytic_slice(s, Activation::Sign, &x, &x0)?;
    Ok(KernelData {
        settings: s.clone(),
        grid,
        train_angles,
        cells,
        limit,
        sgl,
    })
}

fn column(v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_column_slice(v.len(), 1, v)
}

/// Mean over networks, point by point.
pub(crate) fn mean_curve(curves: &[Vec<f64>]) -> Vec<f64> {
    let cols: Vec<DMatrix<f64>> = curves.iter().map(|c| column(c)).collect();
    ensemble_mean(&cols).iter().copied().collect()
}

/// Mean squared difference over the grid (the MSE of Fig. B.3/B.4).
pub(crate) fn mse(curve: &[f64], analytic: &[f64]) -> f64 {
    stats_mse(&column(curve), &column(analytic))
}

/// ‖a − b‖ / ‖b‖ over the grid.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// Least-squares slope of log y against log x (None with fewer than two usable points).
pub fn fit_loglog_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0 && b.is_finite())
        .map(|(a, b)| (a.ln(), b.ln()))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Fig. 1/2: writes the CSV of every slice, the plots, and returns the summary.
pub(crate) fn write_slices(
    d: &KernelData,
    stem: &Path,
) -> Result<(serde_json::Value, Vec<PathBuf>), ExpError> {
    let s = &d.settings;
    let mut table = Table::new(&["curve", "m", "width", "t", "net", "delta_alpha", "value"]);
    let mut cells_json = Vec::new();
    for c in &d.cells {
        for stage in 0..2 {
            let (t, curves) = if stage == 0 {
                (0, &c.init)
            } else {
                (s.steps, &c.trained)
            };
            for (k, curve) in curves.iter().enumerate() {
                for (a, v) in d.grid.iter().zip(curve) {
                    table.push(&[
                        Cell::Text("empirical"),
                        Cell::Num(c.m),
                        Cell::Int(c.width),
                        Cell::Int(t),
                        Cell::Int(k),
                        Cell::Num(*a),
                        Cell::Num(*v),
                    ]);
                }
            }
        }
        for (a, v) in d.grid.iter().zip(&c.analytic) {
            if c.width == s.widths[0] {
                table.push(&[
                    Cell::Text("analytic"),
                    Cell::Num(c.m),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Num(*a),
                    Cell::Num(*v),
                ]);
            }
        }
        let mean0 = mean_curve(&c.init);
        let mean_t = mean_curve(&c.trained);
        let change: f64 = c
            .init
            .iter()
            .zip(&c.trained)
            .map(|(a, b)| rel_diff(b, a))
            .sum::<f64>()
            / c.init.len() as f64;
        cells_json.push(json!({
            "m": c.m,
            "width": c.width,
            "rel_error_of_mean_t0": rel_diff(&mean0, &c.analytic),
            "rel_error_of_mean_trained": rel_diff(&mean_t, &c.analytic),
            "mean_rel_kernel_change": change,
            "loss_t0": c.loss.0,
            "loss_trained": c.loss.1,
        }));
    }
    for (a, v) in d.grid.iter().zip(&d.limit) {
        table.push(&[
            Cell::Text("analytic_limit"),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Num(*a),
            Cell::Num(*v),
        ]);
    }
    let csv = stem.with_extension("csv");
    table.write(&csv)?;
    let mut files = plots::kernel_slices(d, stem)?;
    files.insert(0, csv);
    let summary = json!({
        "kernel": if d.sgl { "sg-ntk" } else { "ntk" },
        "train_angles": d.train_angles,
        "cells": cells_json,
    });
    Ok((summary, files))
}

/// Per-network MSEs of a cell at stage 0 (init) or 1 (trained), and the MSE of their mean.
pub(crate) fn cell_mses(c: &KernelCell, stage: usize) -> (Vec<f64>, f64) {
    let curves = if stage == 0 { &c.init } else { &c.trained };
    let per_net: Vec<f64> = curves.iter().map(|k| mse(k, &c.analytic)).collect();
    (per_net, mse(&mean_curve(curves), &c.analytic))
}

/// Fig. B.3/B.4: MSE vs width per m and t; the CSV, the plot, and the fitted slopes.
pub(crate) fn write_mse(
    d: &KernelData,
    stem: &Path,
) -> Result<(serde_json::Value, Vec<PathBuf>), ExpError> {
    let s = &d.settings;
    let mut table = Table::new(&["m", "width", "t", "net", "mse"]);
    let mut slopes = Vec::new();
    for &m in &s.ms {
        for stage in 0..2 {
            let t = if stage == 0 { 0 } else { s.steps };
            let mut mean_mse = Vec::new();
            let mut widths = Vec::new();
            for c in d.cells.iter().filter(|c| c.m == m) {
                let (per_net, of_mean) = cell_mses(c, stage);
                for (k, v) in per_net.iter().enumerate() {
                    table.push(&[
                        Cell::Num(m),
                        Cell::Int(c.width),
                        Cell::Int(t),
                        Cell::Text(&k.to_string()),
                        Cell::Num(*v),
                    ]);
                }
                for (label, v) in [
                    (
                        "mean_of_nets",
                        per_net.iter().sum::<f64>() / per_net.len() as f64,
                    ),
                    ("of_mean_kernel", of_mean),
                ] {
                    table.push(&[
                        Cell::Num(m),
                        Cell::Int(c.width),
                        Cell::Int(t),
                        Cell::Text(label),
                        Cell::Num(v),
                    ]);
                }
                widths.push(c.width as f64);
                mean_mse.push(per_net.iter().sum::<f64>() / per_net.len() as f64);
            }
            slopes.push(json!({
                "m": m,
                "t": t,
                "widths": widths,
                "mean_mse": mean_mse,
                "loglog_slope": fit_loglog_slope(&widths, &mean_mse),
            }));
        }
    }
    let csv = stem.with_extension("csv");
    table.write(&csv)?;
    let mut files = plots::kernel_mse(d, stem)?;
    files.insert(0, csv);
    let summary = json!({
        "kernel": if d.sgl { "sg-ntk" } else { "ntk" },
        "slopes": slopes,
    });
    Ok((summary, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_power_law() {
        let x = [10.0, 100.0, 1000.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(-1.0)).collect();
        assert!((fit_loglog_slope(&x, &y).unwrap() + 1.0).abs() < 1e-12);
        assert!(fit_loglog_slope(&x[..1], &y[..1]).is_none());
        assert!((mse(&[1.0, 2.0, 5.0], &[1.0, 0.0, 5.0]) - 4.0 / 3.0).abs() < 1e-15);
    }
}
