//! Fig. 3a / 3b / B.2: ensembles of (sign) networks trained by SGL on 15 grid points, compared with
//! the infinite-width SG-NTK GP after the same number of steps (SPEC §6, discrete-time form) and with
//! the Σ-only kernel regression.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sgntk_model::data::{circle_points, grid_subset, targets, test_grid};
use sgntk_model::{LearningRule, MlpConfig, Surrogate, TrainSet};
use sgntk_ntk::{gp_predict, KernelKind, KernelSpec, Method, TrainTime};

use super::{cache, chunk_ensemble, chunks, figure_bar, parallel_map, plots, rms_diff};
use super::{train_with_progress, widths, ChunkCount, RunOptions};
use crate::cache::exact;
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::settings::RegressionFigure;

/// The trained ensemble of one width.
#[derive(Clone, Debug)]
pub struct WidthResult {
    /// Hidden width n.
    pub width: usize,
    /// Each network's outputs on the test grid.
    pub outputs: Vec<Vec<f64>>,
    /// Mean over networks.
    pub mean: Vec<f64>,
    /// Mean training loss after training.
    pub final_loss: f64,
}

/// Everything Fig. 3a/3b/B.2 plot.
#[derive(Clone, Debug)]
pub struct RegressionData {
    /// The settings.
    pub settings: RegressionFigure,
    /// Test angles α.
    pub grid: Vec<f64>,
    /// Training angles and targets.
    pub train: (Vec<f64>, Vec<f64>),
    /// Target on the grid.
    pub target: Vec<f64>,
    /// SG-NTK GP mean and standard deviation after `steps` steps.
    pub gp_mean: Vec<f64>,
    /// GP standard deviation.
    pub gp_std: Vec<f64>,
    /// Σ-only kernel regression mean.
    pub sigma_regression: Vec<f64>,
    /// One ensemble per width.
    pub widths: Vec<WidthResult>,
}

#[derive(Serialize, Deserialize)]
struct ChunkOutputs {
    #[serde(with = "exact")]
    outputs: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    final_loss: f64,
}

#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    settings: &'a RegressionFigure,
    width: usize,
    seed: u64,
    backend: &'a str,
    members: (usize, usize),
}

/// The settings without the fields a chunk does not depend on (so Fig. 3a and 3b share chunks).
fn chunk_settings(s: &RegressionFigure) -> RegressionFigure {
    RegressionFigure {
        widths: Vec::new(),
        nets: 0,
        ..s.clone()
    }
}

/// Trains (or loads) every width's ensemble and computes the GP and Σ-regression predictions.
pub(crate) fn compute(
    s: &RegressionFigure,
    opts: &RunOptions,
    name: &str,
    count: &mut ChunkCount,
) -> Result<RegressionData, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let device = opts.backend.device()?;
    let grid = test_grid(s.grid);
    let x = circle_points(&grid);
    let train_angles = grid_subset(&grid, s.train_points, s.data_seed);
    let xt = circle_points(&train_angles);
    let yt = targets(&xt);
    let spec = KernelSpec {
        depth: s.depth,
        sigma_w: s.sigma_w,
        sigma_b: s.sigma_b,
        activation: s.activation,
        surrogate: s.surrogate,
        kappa: s.kappa,
        method: Method::default(),
    };
    let kind = if s.surrogate == Surrogate::True {
        KernelKind::Ntk
    } else {
        KernelKind::SgNtk
    };
    let time = TrainTime::Finite {
        t: s.steps as f64,
        lr: s.lr,
        discrete: true,
    };
    let gp = gp_predict(&spec, kind, &xt, &yt, &x, time)?;
    let sigma = gp_predict(&spec, KernelKind::Nngp, &xt, &yt, &x, TrainTime::Infinite)?;
    let rule = if s.surrogate == Surrogate::True {
        LearningRule::Gd
    } else {
        LearningRule::Sgl(s.surrogate)
    };
    let data = TrainSet {
        x: xt.clone(),
        y: yt.clone(),
    };
    let cache = cache(opts);
    let backend = opts.backend.to_string();
    let key_settings = chunk_settings(s);
    let parts = chunks(s.nets, s.chunk);
    let pb = figure_bar(opts, (s.widths.len() * parts.len() * s.steps) as u64, name);
    let config = |width: usize| MlpConfig {
        sigma_w: s.sigma_w,
        sigma_b: s.sigma_b,
        kappa: s.kappa,
        ..MlpConfig::new(widths(width, s.depth), s.activation)
    };
    let jobs: Vec<(usize, Range<usize>)> = s
        .widths
        .iter()
        .flat_map(|&w| parts.iter().map(move |r| (w, r.clone())))
        .collect();
    let chunks_out = parallel_map(jobs.len(), opts.threads, |i| {
        let (width, range) = jobs[i].clone();
        let key = ChunkKey {
            what: "regression-outputs",
            settings: &key_settings,
            width,
            seed: opts.seed,
            backend: &backend,
            members: (range.start, range.end),
        };
        let (chunk, hit) = cache.get_or_compute(&key, || {
            let mut ens = chunk_ensemble(&config(width), opts.seed, range.clone(), &device)?;
            let report = train_with_progress(&mut ens, &data, rule, s.lr, s.steps, &pb)?;
            let outputs = ens
                .predict(&x)?
                .into_iter()
                .map(|f| f.iter().copied().collect())
                .collect();
            Ok(ChunkOutputs {
                outputs,
                final_loss: *report.loss.last().expect("steps + 1 losses"),
            })
        })?;
        if hit {
            pb.inc(s.steps as u64);
        }
        Ok((chunk, hit))
    })?;
    let mut results: Vec<WidthResult> = Vec::new();
    for ((width, range), (chunk, hit)) in jobs.iter().zip(chunks_out) {
        if hit {
            count.resumed += 1;
        } else {
            count.trained += 1;
        }
        if results.last().is_none_or(|r| r.width != *width) {
            results.push(WidthResult {
                width: *width,
                outputs: Vec::new(),
                mean: Vec::new(),
                final_loss: 0.0,
            });
        }
        let r = results.last_mut().expect("pushed above");
        r.final_loss += chunk.final_loss * range.len() as f64 / s.nets as f64;
        r.outputs.extend(chunk.outputs);
    }
    for r in &mut results {
        r.mean = super::kernels::mean_curve(&r.outputs);
    }
    pb.finish_and_clear();
    Ok(RegressionData {
        settings: s.clone(),
        target: targets(&x).iter().copied().collect(),
        train: (train_angles, yt.iter().copied().collect()),
        gp_mean: gp.mean.iter().copied().collect(),
        gp_std: gp.std().iter().copied().collect(),
        sigma_regression: sigma.mean.iter().copied().collect(),
        grid,
        widths: results,
    })
}

/// Summary numbers of one width: RMS(mean − GP mean), the fraction of the test grid where the
/// ensemble mean lies inside GP mean ± 2 std, RMS(mean − Σ regression).
///
/// The band fraction is taken over the grid points that are not training points: at a training
/// point the GP has (numerically) zero variance after training, so the band has zero width there
/// and any finite ensemble lands outside it. The fraction over the whole grid is reported too.
pub fn width_summary(d: &RegressionData, w: &WidthResult) -> serde_json::Value {
    let inside = |i: usize| (w.mean[i] - d.gp_mean[i]).abs() <= 2.0 * d.gp_std[i];
    let off_train: Vec<usize> = (0..d.grid.len())
        .filter(|i| !d.train.0.contains(&d.grid[*i]))
        .collect();
    let frac =
        |idx: &[usize]| idx.iter().filter(|i| inside(**i)).count() as f64 / idx.len().max(1) as f64;
    let all: Vec<usize> = (0..d.grid.len()).collect();
    let rms_gp = rms_diff(&w.mean, &d.gp_mean);
    let rms_sigma = rms_diff(&w.mean, &d.sigma_regression);
    json!({
        "width": w.width,
        "nets": w.outputs.len(),
        "rms_mean_vs_gp_mean": rms_gp,
        "fraction_inside_2std_band": frac(&off_train),
        "fraction_inside_2std_band_all_grid": frac(&all),
        "rms_mean_vs_sigma_regression": rms_sigma,
        "mean_closer_to_gp_than_sigma_regression": rms_gp < rms_sigma,
        "final_train_loss": w.final_loss,
    })
}

/// Writes the CSV and the plot; returns the summary and the files.
pub(crate) fn write(
    d: &RegressionData,
    means_only: bool,
    stem: &Path,
) -> Result<(serde_json::Value, Vec<PathBuf>), ExpError> {
    let mut table = Table::new(&["curve", "width", "net", "alpha", "value"]);
    let mut curve =
        |name: &str, width: Option<usize>, net: Option<usize>, xs: &[f64], ys: &[f64]| {
            for (a, v) in xs.iter().zip(ys) {
                table.push(&[
                    Cell::Text(name),
                    width.map_or(Cell::Empty, Cell::Int),
                    net.map_or(Cell::Empty, Cell::Int),
                    Cell::Num(*a),
                    Cell::Num(*v),
                ]);
            }
        };
    for w in &d.widths {
        if !means_only {
            for (k, o) in w.outputs.iter().enumerate() {
                curve("network", Some(w.width), Some(k), &d.grid, o);
            }
        }
        curve("ensemble_mean", Some(w.width), None, &d.grid, &w.mean);
    }
    curve("gp_mean", None, None, &d.grid, &d.gp_mean);
    curve("gp_std", None, None, &d.grid, &d.gp_std);
    curve("sigma_regression", None, None, &d.grid, &d.sigma_regression);
    curve("target", None, None, &d.grid, &d.target);
    curve("train", None, None, &d.train.0, &d.train.1);
    let csv = stem.with_extension("csv");
    table.write(&csv)?;
    let mut files = plots::regression(d, means_only, stem)?;
    files.insert(0, csv);
    let summary = json!({
        "train_angles": d.train.0,
        "widths": d.widths.iter().map(|w| width_summary(d, w)).collect::<Vec<_>>(),
    });
    Ok((summary, files))
}
