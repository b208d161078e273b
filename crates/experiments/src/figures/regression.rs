//! Fig. 3a / 3b / B.2: ensembles of (sign) networks trained by SGL on 15 grid points, compared with
//! the infinite-width SG-NTK GP after the same number of steps (docs/MATH.md §6, discrete-time form) and with
//! the Σ-only kernel regression.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use sgntk_model::data::{circle_points, targets, test_grid, train_grid_angles, DataSource};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Ensemble, LearningRule, TrainConfig, TrainSet};
use sgntk_ntk::{gp_predict, GpPrediction, KernelKind, KernelSpec, TrainTime};

use super::plots::{line, networks, BLACK, BLUE, GREEN, NAVY, PALETTE};
use super::{chunk_ensemble, chunks, driving_kernel, mlp_config, train_with_progress};
use super::{widths, ChunkJob, Figure, FigureRun, Written};
use crate::cache::{check_curves, check_finite, exact, Validate};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, Band, LegendPos, Mark, Panel, RGBColor, Series};
use crate::settings::{RegressionFigure, Settings};
use crate::shard::training_cost;

/// Fig. 3a / 3b / B.2: trained networks (or their ensemble means) vs the SG-NTK GP and the Σ
/// regression.
pub struct Regression {
    /// The settings table's values.
    pub settings: fn(&Settings) -> &RegressionFigure,
    /// Plot only the ensemble means of the widths (Fig. 3b), not every network.
    pub means_only: bool,
}

impl Figure for Regression {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let data = compute((self.settings)(&run.opts.settings), run)?;
        data.map(|d| write(&d, self.means_only, run)).transpose()
    }
}

/// The summary of Fig. 3a / 3b / B.2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionSummary {
    /// How κ enters (an output scale).
    pub kappa_convention: String,
    /// Where the training points came from.
    pub data: DataSource,
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// One per width.
    pub widths: Vec<WidthSummary>,
}

/// The trained ensemble of one width.
#[derive(Clone, Debug)]
pub struct WidthResult {
    /// Hidden width n.
    pub width: usize,
    /// Each network's outputs on the test grid.
    pub outputs: Vec<Vec<f64>>,
    /// Mean over networks.
    pub mean: Vec<f64>,
    /// Mean training loss after training (`None` where unknown: outputs read from a CSV).
    pub final_loss: Option<f64>,
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

/// A cached chunk of trained networks: their outputs at the test points and their mean final
/// training loss (Fig. 3a/3b/B.2, and `figure digits` with the test images × 10 outputs).
#[derive(Serialize, Deserialize)]
pub(crate) struct ChunkOutputs {
    #[serde(with = "exact")]
    pub(crate) outputs: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    pub(crate) final_loss: f64,
}

impl Validate for ChunkOutputs {
    /// (networks in the chunk, test points or values)
    type Expect = (usize, usize);
    fn check(&self, &(nets, points): &(usize, usize)) -> Result<(), String> {
        check_curves("outputs", &self.outputs, nets, points)?;
        check_finite("final_loss", &[self.final_loss])
    }
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

/// What a regression figure compares its networks with: the test grid, the training set, and
/// the SG-NTK GP after `s.steps` discrete steps and the Σ regression on the grid (docs/MATH.md §6;
/// with κ < 1 the kernels carry κ², docs/MATH.md §5). Fig. 3a/3b/B.2 and the κ study share it.
pub(crate) struct Problem {
    /// Test angles α.
    pub grid: Vec<f64>,
    /// Test points x(α).
    pub x: DMatrix<f64>,
    /// Training angles.
    pub train_angles: Vec<f64>,
    /// Training points and targets.
    pub data: TrainSet,
    /// SG-NTK (or NTK) GP after `s.steps` steps.
    pub gp: GpPrediction,
    /// Σ-only kernel regression (t = ∞).
    pub sigma: GpPrediction,
}

impl Problem {
    /// The problem of the settings `s`.
    pub(crate) fn new(s: &RegressionFigure) -> Result<Problem, ExpError> {
        let p = &s.points;
        let grid = test_grid(p.grid);
        let x = circle_points(&grid);
        let train_angles = train_grid_angles(p.data, &grid, p.train_points, p.data_seed)
            .map_err(ExpError::Usage)?;
        let xt = circle_points(&train_angles);
        let yt = targets(&xt);
        let spec = KernelSpec::from_mlp(&config(s, 1), s.surrogate);
        let kind = driving_kernel(s.surrogate);
        let time = TrainTime::Finite {
            t: s.steps as f64,
            lr: s.training.lr,
            discrete: true,
        };
        let gp = gp_predict(&spec, kind, &xt, &yt, &x, time)?;
        let sigma = gp_predict(&spec, KernelKind::Nngp, &xt, &yt, &x, TrainTime::Infinite)?;
        Ok(Problem {
            grid,
            x,
            train_angles,
            data: TrainSet { x: xt, y: yt },
            gp,
            sigma,
        })
    }

    /// The figure's data: the problem with the trained ensembles `widths` (each width's mean
    /// computed here).
    pub(crate) fn data(
        &self,
        s: &RegressionFigure,
        mut widths: Vec<WidthResult>,
    ) -> RegressionData {
        for r in &mut widths {
            r.mean = super::kernels::mean_curve(&r.outputs);
        }
        RegressionData {
            settings: s.clone(),
            target: targets(&self.x).iter().copied().collect(),
            train: (
                self.train_angles.clone(),
                self.data.y.iter().copied().collect(),
            ),
            gp_mean: self.gp.mean.iter().copied().collect(),
            gp_std: self.gp.std().iter().copied().collect(),
            sigma_regression: self.sigma.mean.iter().copied().collect(),
            grid: self.grid.clone(),
            widths,
        }
    }
}

/// Trains (or loads) every width's ensemble and computes the GP and Σ-regression predictions
/// (`None` for a sharded run, which only trains its chunks).
pub(crate) fn compute(
    s: &RegressionFigure,
    run: &FigureRun,
) -> Result<Option<RegressionData>, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let opts = run.opts;
    let device = opts.backend.device()?;
    let problem = Problem::new(s)?;
    let (grid, x, data) = (&problem.grid, &problem.x, &problem.data);
    let rule = LearningRule::with_backward(s.surrogate);
    let backend = opts.backend.to_string();
    let key_settings = chunk_settings(s);
    let parts = chunks(s.nets, s.chunk);
    let pb = run.progress_bar();
    let width_chunks: Vec<(usize, Range<usize>)> = s
        .widths
        .iter()
        .flat_map(|&w| parts.iter().map(move |r| (w, r.clone())))
        .collect();
    let jobs: Vec<ChunkJob<ChunkKey<'_>, (usize, usize)>> = width_chunks
        .iter()
        .map(|(width, range)| ChunkJob {
            key: ChunkKey {
                what: "regression-outputs",
                settings: &key_settings,
                width: *width,
                seed: opts.seed,
                backend: &backend,
                members: (range.start, range.end),
            },
            expect: (range.len(), grid.len()),
            cost: training_cost(&widths(*width, s.training.depth), range.len(), s.steps),
            steps: s.steps as u64,
        })
        .collect();
    let chunks_out = run.run_chunks(&jobs, &pb, |i| {
        let (width, range) = width_chunks[i].clone();
        let mut ens = chunk_ensemble(&config(s, width), opts.seed, range, &device)?;
        let config = TrainConfig::new(rule, s.training.lr, s.steps);
        let report = train_with_progress(&mut ens, data, &config, &pb)?;
        Ok(ChunkOutputs {
            outputs: outputs_on(&ens, x)?,
            final_loss: *report.loss.last().expect("steps + 1 losses"),
        })
    })?;
    let Some(chunks_out) = chunks_out else {
        return Ok(None);
    };
    let mut results: Vec<WidthResult> = Vec::new();
    for ((width, range), chunk) in width_chunks.iter().zip(chunks_out) {
        if results.last().is_none_or(|r| r.width != *width) {
            results.push(WidthResult {
                width: *width,
                outputs: Vec::new(),
                mean: Vec::new(),
                final_loss: Some(0.0),
            });
        }
        let r = results.last_mut().expect("pushed above");
        r.final_loss = r
            .final_loss
            .map(|l| l + chunk.final_loss * range.len() as f64 / s.nets as f64);
        r.outputs.extend(chunk.outputs);
    }
    Ok(Some(problem.data(s, results)))
}

/// The networks of width `width` of the settings `s`.
pub(crate) fn config(s: &RegressionFigure, width: usize) -> sgntk_model::MlpConfig {
    mlp_config(&s.training, width, s.activation, s.kappa)
}

/// Each network's outputs on the points `x` (one row per network).
pub(crate) fn outputs_on(
    ens: &Ensemble,
    x: &DMatrix<f64>,
) -> Result<Vec<Vec<f64>>, sgntk_model::ModelError> {
    Ok(ens
        .predict(x)?
        .into_iter()
        .map(|f| f.iter().copied().collect())
        .collect())
}

/// Summary numbers of one width, on the grid points that are not training points (there the GP
/// variance after training is ~0 and every band degenerates). With N networks f_k, the GP mean μ
/// and standard deviation σ at grid point x_i:
///
/// ```text
/// coverage        = #{(k, i): |f_k(x_i) − μ_i| ≤ 2σ_i} / (N · #i)        ≈ 0.95 if f_k ~ GP
/// std_ratio       = median_i  std_k f_k(x_i) / σ_i                        ≈ 1
/// mean_z_rms      = RMS_i (mean_k f_k(x_i) − μ_i) / (σ_i/√N)              ≈ 1 within sampling error
/// mean_z_rms_vs_sigma_regression: the same with the Σ regression in place of μ
/// sampling_floor  = RMS_i σ_i/√N   (what RMS(mean − μ) is expected to be)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthSummary {
    /// Hidden width n.
    pub width: usize,
    /// Number of networks N.
    pub nets: usize,
    /// Grid points used (not training points).
    pub grid_points: usize,
    /// The statistics over those grid points.
    #[serde(flatten)]
    pub stats: DistributionStats,
    /// Mean training loss after training (absent where unknown: a summary recomputed from a CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
}

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    (sum / n.max(1) as f64).sqrt()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Fig. 3a's distribution statistics of an ensemble against a GP at the points `idx` (see
/// [`WidthSummary`] for the formulas): `outputs[k][i]` is network k at point i, `mean` their mean,
/// `gp_mean`/`gp_std` the GP's, `sigma_regression` the Σ regression's. The one place these
/// statistics are computed (Fig. 3a/3b/B.2 on the circle, `figure digits` on the (image, output)
/// pairs of the test set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistributionStats {
    /// Fraction of (network, point) pairs inside GP mean ± 2 std.
    pub coverage: f64,
    /// Median over points of ensemble std / GP std.
    pub std_ratio: f64,
    /// RMS over points of (ensemble mean − GP mean) / (GP std / √N).
    pub mean_z_rms: f64,
    /// RMS over points of (ensemble mean − Σ regression) / (GP std / √N).
    pub mean_z_rms_vs_sigma_regression: f64,
    /// RMS over points of ensemble mean − GP mean.
    pub rms_mean_vs_gp_mean: f64,
    /// RMS over points of ensemble mean − Σ regression.
    pub rms_mean_vs_sigma_regression: f64,
    /// RMS over points of GP std / √N.
    pub sampling_floor: f64,
    /// Fraction of points where the ensemble mean lies inside GP mean ± 2 std.
    pub mean_inside_band: f64,
}

/// The [`DistributionStats`] of `outputs` (N networks) at the points `idx`.
pub fn distribution_stats(
    outputs: &[Vec<f64>],
    mean: &[f64],
    gp_mean: &[f64],
    gp_std: &[f64],
    sigma_regression: &[f64],
    idx: &[usize],
) -> DistributionStats {
    let n = outputs.len();
    let sqrt_n = (n as f64).sqrt();
    let inside = idx
        .iter()
        .map(|&i| {
            outputs
                .iter()
                .filter(|f| (f[i] - gp_mean[i]).abs() <= 2.0 * gp_std[i])
                .count()
        })
        .sum::<usize>();
    let ensemble_std = |i: usize| {
        let ss: f64 = outputs.iter().map(|f| (f[i] - mean[i]).powi(2)).sum();
        (ss / (n.max(2) - 1) as f64).sqrt()
    };
    let floor = |i: usize| gp_std[i] / sqrt_n;
    DistributionStats {
        coverage: inside as f64 / (n * idx.len()).max(1) as f64,
        std_ratio: median(idx.iter().map(|&i| ensemble_std(i) / gp_std[i]).collect()),
        mean_z_rms: rms(idx.iter().map(|&i| (mean[i] - gp_mean[i]) / floor(i))),
        mean_z_rms_vs_sigma_regression: rms(idx
            .iter()
            .map(|&i| (mean[i] - sigma_regression[i]) / floor(i))),
        rms_mean_vs_gp_mean: rms(idx.iter().map(|&i| mean[i] - gp_mean[i])),
        rms_mean_vs_sigma_regression: rms(idx.iter().map(|&i| mean[i] - sigma_regression[i])),
        sampling_floor: rms(idx.iter().map(|&i| floor(i))),
        mean_inside_band: idx
            .iter()
            .filter(|&&i| (mean[i] - gp_mean[i]).abs() <= 2.0 * gp_std[i])
            .count() as f64
            / idx.len().max(1) as f64,
    }
}

/// What a trained ensemble is compared with, on the test grid: the GP and the Σ regression (a
/// view of [`RegressionData`], or read back from a figure's CSV by `sgntk stats`).
#[derive(Clone, Copy, Debug)]
pub struct Comparison<'a> {
    /// Test angles α.
    pub grid: &'a [f64],
    /// Training angles (grid points among them are left out of every statistic).
    pub train_angles: &'a [f64],
    /// GP mean on the grid.
    pub gp_mean: &'a [f64],
    /// GP standard deviation on the grid.
    pub gp_std: &'a [f64],
    /// Σ regression on the grid.
    pub sigma_regression: &'a [f64],
}

impl RegressionData {
    /// What its ensembles are compared with.
    pub fn comparison(&self) -> Comparison<'_> {
        Comparison {
            grid: &self.grid,
            train_angles: &self.train.0,
            gp_mean: &self.gp_mean,
            gp_std: &self.gp_std,
            sigma_regression: &self.sigma_regression,
        }
    }
}

/// The summary of one width (see [`WidthSummary`]).
pub fn width_summary(d: &RegressionData, w: &WidthResult) -> WidthSummary {
    summarize(&d.comparison(), w)
}

/// The summary of the ensemble `w` against `d` (see [`WidthSummary`]): Fig. 3a's statistics,
/// the one implementation behind every figure's JSON and `sgntk stats`.
pub fn summarize(d: &Comparison, w: &WidthResult) -> WidthSummary {
    let idx: Vec<usize> = (0..d.grid.len())
        .filter(|i| !d.train_angles.contains(&d.grid[*i]))
        .collect();
    let s = distribution_stats(
        &w.outputs,
        &w.mean,
        d.gp_mean,
        d.gp_std,
        d.sigma_regression,
        &idx,
    );
    WidthSummary {
        width: w.width,
        nets: w.outputs.len(),
        grid_points: idx.len(),
        stats: s,
        final_train_loss: w.final_loss,
    }
}

/// Bootstrap standard errors of [`WidthSummary`]'s statistics: the standard deviation of each
/// over `resamples` resamples (with replacement, seeded by `seed`) of the width's networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryErrors {
    /// Of the coverage.
    pub coverage: f64,
    /// Of the std_ratio.
    pub std_ratio: f64,
    /// Of the mean_z_rms.
    pub mean_z_rms: f64,
    /// Of the mean_z_rms_vs_sigma_regression.
    pub mean_z_rms_vs_sigma_regression: f64,
}

/// [`SummaryErrors`] of width `w` of `d`: [`width_summary`] on `resamples` bootstrap resamples.
pub fn bootstrap_errors(
    d: &Comparison,
    w: &WidthResult,
    resamples: usize,
    seed: u64,
) -> SummaryErrors {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = w.outputs.len();
    let draws: Vec<WidthSummary> = (0..resamples)
        .map(|_| {
            let outputs: Vec<Vec<f64>> = (0..n)
                .map(|_| w.outputs[rng.random_range(0..n)].clone())
                .collect();
            let mean = super::kernels::mean_curve(&outputs);
            let r = WidthResult {
                outputs,
                mean,
                ..w.clone()
            };
            summarize(d, &r)
        })
        .collect();
    let sd = |f: fn(&WidthSummary) -> f64| {
        let v: Vec<f64> = draws.iter().map(f).collect();
        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let ss: f64 = v.iter().map(|x| (x - m).powi(2)).sum();
        (ss / (v.len().max(2) - 1) as f64).sqrt()
    };
    SummaryErrors {
        coverage: sd(|s| s.stats.coverage),
        std_ratio: sd(|s| s.stats.std_ratio),
        mean_z_rms: sd(|s| s.stats.mean_z_rms),
        mean_z_rms_vs_sigma_regression: sd(|s| s.stats.mean_z_rms_vs_sigma_regression),
    }
}

/// Writes the CSV and the plot; returns the summary and the files.
pub(crate) fn write(
    d: &RegressionData,
    means_only: bool,
    run: &FigureRun,
) -> Result<Written, ExpError> {
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
    let summary = RegressionSummary {
        kappa_convention: "output scale: the networks compute g = kappa * f (docs/MATH.md section 1, paper Sec. C.2.1); kernels are kappa^2 times the kappa = 1 ones".into(),
        data: d.settings.points.data,
        train_angles: d.train.0.clone(),
        widths: d.widths.iter().map(|w| width_summary(d, w)).collect(),
    };
    run.write(&table, &regression(d, means_only), &summary)
}

/// Fig. 3a / B.2 (every network, one panel per width) and Fig. 3b (ensemble means, one panel).
fn regression(d: &RegressionData, means_only: bool) -> plot::Figure {
    let (s, x) = (&d.settings, &d.grid);
    let gp = d.gp_mean.iter().zip(&d.gp_std);
    let two_std = |k: f64| gp.clone().map(|(m, s)| m + k * s).collect();
    let panel = |title: String, curves: Vec<Series>| {
        let mut p = Panel::new(title, "α", "f(x(α))");
        p.bands.push(Band {
            label: Some("GP mean ± 2 std".into()),
            x: x.clone(),
            lower: two_std(-2.0),
            upper: two_std(2.0),
            color: RGBColor(170, 170, 170),
            alpha: 0.45,
        });
        p.series = curves;
        let gp = line("SG-NTK GP mean", x, &d.gp_mean, BLACK, Mark::Dashed(2)).outlined();
        let train = Series::crosses("training points", &d.train.0, &d.train.1);
        p.series.extend([gp, train]);
        p.legend = Some(LegendPos::LowerRight);
        p
    };
    let panels: Vec<Panel> = if means_only {
        let title = format!("ensemble means ({} nets each)", s.nets);
        let colors = PALETTE.iter().cycle();
        let mean = |(w, c): (&WidthResult, &RGBColor)| {
            line(&format!("n = {}", w.width), x, &w.mean, *c, Mark::Line(2))
        };
        let means = d.widths.iter().zip(colors).map(mean).collect();
        vec![panel(title, means)]
    } else {
        let width = |w: &WidthResult| {
            let mut curves = networks("networks", x, &w.outputs, BLUE, 0.15);
            let mean = line("ensemble mean", x, &w.mean, NAVY, Mark::Line(3)).outlined();
            let sigma = &d.sigma_regression;
            let sigma = line("Σ kernel regression", x, sigma, GREEN, Mark::Line(2)).outlined();
            curves.extend([mean, sigma]);
            let (n, nets, t, kappa) = (w.width, w.outputs.len(), s.steps, s.kappa);
            let title = format!("n = {n}, {nets} nets, t = {t}, κ = {kappa}");
            panel(title, curves)
        };
        d.widths.iter().map(width).collect()
    };
    let (act, sur) = (&s.activation, &s.surrogate);
    let title = format!("{act} networks, SGL with surrogate {sur} vs the SG-NTK GP");
    plot::Figure::new(Some(title), (1, panels.len()), (760, 500), panels)
}
