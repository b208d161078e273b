//! Fig. 1 / Fig. 2 (kernel slices at t = 0 and after training) and Fig. B.3 / B.4 (MSE to the
//! analytic kernel vs width), computed from the same cached networks.
//!
//! Slices follow the authors' code: K(x(α_i), x(0)) over the test grid, the grid point first (it
//! carries the true derivative), x(α) = (sin α, cos α), so Δα = α_i.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use sgntk_model::data::{circle_points, targets, test_grid, DataSource};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, LearningRule, MlpConfig, Surrogate, TrainConfig, TrainSet};
use sgntk_ntk::empirical::{ensemble_mean, mse as stats_mse, train_with_kernels};
use sgntk_ntk::{kernel_matrix, KernelSpec};

use super::plots::{line, networks, BLACK, BLUE, GREY, ORANGE};
use super::{chunk_ensemble, chunks, driving_kernel, mlp_config, widths};
use super::{ChunkJob, Figure, FigureRun, Written};
use crate::cache::{check_curves, check_finite, exact, Validate};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, LegendPos, Mark, Panel, Scale, Series};
use crate::settings::{KernelFigure, Points, Settings, Training};
use crate::shard::training_cost;

/// Fig. 1 / 2 and B.3 / B.4: erf_m networks of one settings table trained by GD or SGL, and their
/// empirical kernels against the analytic one (both plots come from the same cached networks).
pub struct Kernels {
    /// The settings table's values.
    pub settings: fn(&Settings) -> &KernelFigure,
    /// What is plotted.
    pub plot: KernelPlot,
}

/// The plot of a [`Kernels`] figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPlot {
    /// Fig. 1 / 2: slices at t = 0 and after training, one panel per (m, n).
    Slices,
    /// Fig. B.3 / B.4: MSE to the analytic kernel vs width, one panel per m.
    Mse,
}

impl Figure for Kernels {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let write = match self.plot {
            KernelPlot::Slices => write_slices,
            KernelPlot::Mse => write_mse,
        };
        let data = compute((self.settings)(&run.opts.settings), run)?;
        data.map(|d| write(&d, run)).transpose()
    }
}

/// The summary of Fig. 1 / 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlicesSummary {
    /// `ntk` (GD) or `sg-ntk` (SGL).
    pub kernel: String,
    /// Where the training points came from.
    pub data: DataSource,
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// 0, `record_steps`…, `steps`.
    pub recorded_steps: Vec<usize>,
    /// The step of the plotted trained kernel.
    pub plotted_step: usize,
    /// Per m: the fit of log sup_t ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F against log n over all networks (Thm. 2.5:
    /// slope ≤ −1/2).
    pub sup_train_kernel_change_vs_width: Vec<WidthSlope>,
    /// One per (m, n) cell, m-major.
    pub cells: Vec<CellSummary>,
}

/// The summary of Fig. B.3 / B.4.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MseSummary {
    /// `ntk` or `sg-ntk`.
    pub kernel: String,
    /// 0, `record_steps`…, `steps`.
    pub recorded_steps: Vec<usize>,
    /// One per (m, t).
    pub slopes: Vec<MseSlope>,
}

fn kernel_name(sgl: bool) -> String {
    if sgl { "sg-ntk" } else { "ntk" }.to_string()
}

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
    /// Empirical slices at each of the settings' `record_steps`, one per network each.
    pub recorded: Vec<Vec<Vec<f64>>>,
    /// ‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F on the training set for t in `record_steps` then `steps`, one
    /// value per network each.
    pub train_change: Vec<Vec<f64>>,
    /// The analytic kernel (infinite width, same m).
    pub analytic: Vec<f64>,
    /// Mean training loss at t = 0 and after training.
    pub loss: (f64, f64),
}

impl KernelCell {
    /// The slices at recorded step number `i` of [`KernelFigure::recorded_steps`] (0 = t 0, the
    /// last = `steps`).
    pub fn slices_at(&self, i: usize) -> &[Vec<f64>] {
        match i {
            0 => &self.init,
            i if i <= self.recorded.len() => &self.recorded[i - 1],
            _ => &self.trained,
        }
    }
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
    /// Slices at t = 0, `record_steps`…, `steps`: `[record][net][grid point]`.
    #[serde(with = "exact")]
    slices: Vec<Vec<Vec<f64>>>,
    /// Relative kernel change on the training set at `record_steps`…, `steps`: `[record][net]`.
    #[serde(with = "exact")]
    train_change: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    loss: (f64, f64),
}

/// ‖a − b‖_F / ‖b‖_F.
fn rel_frobenius(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm() / b.norm()
}

impl Validate for ChunkKernels {
    /// (recorded steps, networks in the chunk, points of a slice)
    type Expect = (usize, usize, usize);
    fn check(&self, &(records, nets, points): &Self::Expect) -> Result<(), String> {
        if self.slices.len() != records {
            return Err(format!(
                "slices: {} records, expected {records}",
                self.slices.len()
            ));
        }
        for (r, s) in self.slices.iter().enumerate() {
            check_curves(&format!("slices[{r}]"), s, nets, points)?;
        }
        let changes = records.saturating_sub(1);
        check_curves("train_change", &self.train_change, changes, nets)?;
        check_finite("loss", &[self.loss.0, self.loss.1])
    }
}

/// What a chunk's result depends on (the cache key).
#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    m: f64,
    width: usize,
    /// `lr`, `depth`, `sigma_w`, `sigma_b`.
    #[serde(flatten)]
    training: &'a Training,
    surrogate: Surrogate,
    steps: usize,
    record_steps: &'a [usize],
    /// `train_points`, `data`, `data_seed`, `grid`.
    #[serde(flatten)]
    points: &'a Points,
    seed: u64,
    backend: &'a str,
    members: (usize, usize),
}

/// The points of a figure of kernel slices K(x(Δα), x(0)) (Fig. 1/2, `figure snn`).
pub(crate) struct SlicePoints {
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// The training points and their targets.
    pub train: TrainSet,
    /// Δα over the test grid.
    pub grid: Vec<f64>,
    /// x(Δα) on the grid.
    pub x: DMatrix<f64>,
    /// The slices' fixed point x(0).
    pub x0: DMatrix<f64>,
}

impl SlicePoints {
    /// The test grid and the training set of `points`.
    pub(crate) fn new(points: &Points) -> Result<Self, ExpError> {
        let grid = test_grid(points.grid);
        let train_angles = points.train_angles().map_err(ExpError::Usage)?;
        let xt = circle_points(&train_angles);
        Ok(SlicePoints {
            x: circle_points(&grid),
            x0: circle_points(&[0.0]),
            train: TrainSet {
                y: targets(&xt),
                x: xt,
            },
            grid,
            train_angles,
        })
    }
}

/// Trains (or loads) every cell's networks and computes the empirical and analytic slices
/// (`None` for a sharded run, which only trains its chunks).
pub(crate) fn compute(s: &KernelFigure, run: &FigureRun) -> Result<Option<KernelData>, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let opts = run.opts;
    let device = opts.backend.device()?;
    let SlicePoints {
        grid,
        x,
        x0,
        train_angles,
        train: data,
    } = SlicePoints::new(&s.points)?;
    // One kernel evaluation per record gives both the slice K(x(α_i), x(0)) (rows 0..G, column 0)
    // and the training-set kernel Θ(X, X) (rows G.., columns 1..).
    let g = grid.len();
    let x1 = stack(&x, &data.x);
    let x2 = stack(&x0, &data.x);
    let record_at = s.recorded_steps();
    let rule = LearningRule::with_backward(s.surrogate);
    // The kernel recorded is the one that drives this rule.
    let pair = rule.pair();
    let backend = opts.backend.to_string();
    let parts = chunks(s.nets, s.chunk);
    let pb = run.progress_bar();
    let config = |m: f64, width: usize| mlp_config(&s.training, width, Activation::Erf { m }, 1.0);
    // The analytic slice K(x(α_i), x(0)) of the networks of a config trained by `s.surrogate`.
    let analytic_slice = |config: &MlpConfig| -> Result<Vec<f64>, ExpError> {
        let spec = KernelSpec::from_mlp(config, s.surrogate);
        let k = kernel_matrix(&spec, driving_kernel(s.surrogate), &x, &x0)?;
        Ok(k.iter().copied().collect())
    };
    // every (m, n, chunk) is one independent job
    let cells_of_jobs: Vec<(f64, usize, Range<usize>)> =
        s.ms.iter()
            .flat_map(|&m| s.widths.iter().map(move |&w| (m, w)))
            .flat_map(|(m, w)| parts.iter().map(move |r| (m, w, r.clone())))
            .collect();
    let jobs: Vec<ChunkJob<ChunkKey<'_>, (usize, usize, usize)>> = cells_of_jobs
        .iter()
        .map(|(m, width, range)| ChunkJob {
            key: ChunkKey {
                what: "kernel-slices",
                m: *m,
                width: *width,
                training: &s.training,
                surrogate: s.surrogate,
                steps: s.steps,
                record_steps: &s.record_steps,
                points: &s.points,
                seed: opts.seed,
                backend: &backend,
                members: (range.start, range.end),
            },
            expect: (record_at.len(), range.len(), g),
            cost: training_cost(&widths(*width, s.training.depth), range.len(), s.steps),
            steps: s.steps as u64,
        })
        .collect();
    let results = run.run_chunks(&jobs, &pb, |i| {
        let (m, width, range) = cells_of_jobs[i].clone();
        let mut ens = chunk_ensemble(&config(m, width), opts.seed, range, &device)?;
        let train_cfg = TrainConfig::new(rule, s.training.lr, s.steps);
        let tick = (s.steps / 100).max(1);
        let mut last = 0;
        let (report, rec) = train_with_kernels(
            &mut ens,
            &data,
            &train_cfg,
            &record_at,
            &x1,
            &x2,
            pair,
            tick,
            |t| {
                pb.inc((t - last) as u64);
                last = t;
            },
        )?;
        let slices = rec
            .iter()
            .map(|r| {
                r.kernels
                    .iter()
                    .map(|k| k.rows(0, g).column(0).iter().copied().collect())
                    .collect()
            })
            .collect();
        let d = data.x.nrows();
        let train_kernel = |k: &DMatrix<f64>| k.view((g, 1), (d, d)).into_owned();
        let train_change = rec[1..]
            .iter()
            .map(|r| {
                r.kernels
                    .iter()
                    .zip(&rec[0].kernels)
                    .map(|(kt, k0)| rel_frobenius(&train_kernel(kt), &train_kernel(k0)))
                    .collect()
            })
            .collect();
        Ok(ChunkKernels {
            slices,
            train_change,
            loss: (
                report.loss[0],
                *report.loss.last().expect("steps + 1 losses"),
            ),
        })
    })?;
    let Some(results) = results else {
        return Ok(None);
    };
    let mut cells: Vec<KernelCell> = Vec::new();
    for ((m, width, range), chunk) in cells_of_jobs.iter().zip(results) {
        if cells.last().is_none_or(|c| c.m != *m || c.width != *width) {
            cells.push(KernelCell {
                m: *m,
                width: *width,
                init: Vec::new(),
                trained: Vec::new(),
                recorded: vec![Vec::new(); s.record_steps.len()],
                train_change: vec![Vec::new(); s.record_steps.len() + 1],
                analytic: analytic_slice(&config(*m, *width))?,
                loss: (0.0, 0.0),
            });
        }
        let cell = cells.last_mut().expect("pushed above");
        let w = range.len() as f64 / s.nets as f64;
        cell.loss.0 += w * chunk.loss.0;
        cell.loss.1 += w * chunk.loss.1;
        let mut slices = chunk.slices.into_iter();
        cell.init.extend(slices.next().expect("t = 0 recorded"));
        for (r, sl) in cell.recorded.iter_mut().zip(slices.by_ref()) {
            r.extend(sl);
        }
        cell.trained
            .extend(slices.next().expect("t = steps recorded"));
        for (c, v) in cell.train_change.iter_mut().zip(chunk.train_change) {
            c.extend(v);
        }
    }
    let limit = analytic_slice(&mlp_config(&s.training, 1, Activation::Sign, 1.0))?;
    Ok(Some(KernelData {
        settings: s.clone(),
        grid,
        train_angles,
        cells,
        limit,
        sgl: rule != LearningRule::Gd,
    }))
}

/// The rows of `a` above the rows of `b`.
fn stack(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows() + b.nrows(), a.ncols(), |i, j| {
        if i < a.nrows() {
            a[(i, j)]
        } else {
            b[(i - a.nrows(), j)]
        }
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
pub(crate) fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// A least-squares line log y = a + slope · log x.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLogFit {
    /// The slope.
    pub slope: f64,
    /// Its standard error from the residuals (None with only two points).
    pub stderr: Option<f64>,
    /// Number of points used.
    pub points: usize,
}

/// Least-squares fit of log y against log x over the points with x, y > 0 and finite (None with
/// fewer than two usable points or one distinct x).
pub fn loglog_fit(x: &[f64], y: &[f64]) -> Option<LogLogFit> {
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
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let rss: f64 = pts
        .iter()
        .map(|p| (p.1 - my - slope * (p.0 - mx)).powi(2))
        .sum();
    let stderr = (pts.len() > 2).then(|| (rss / (n - 2.0) / sxx).sqrt());
    Some(LogLogFit {
        slope,
        stderr,
        points: pts.len(),
    })
}

/// Least-squares slope of log y against log x (None with fewer than two usable points).
pub fn fit_loglog_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    loglog_fit(x, y).map(|f| f.slope)
}

/// A fit over widths for one m.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthSlope {
    /// m of erf_m.
    pub m: f64,
    /// The fit over every network (None with fewer than two usable widths).
    pub fit_over_nets: Option<LogLogFit>,
}

/// The numbers of one (m, n) cell of Fig. 1 / 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// m of erf_m.
    pub m: f64,
    /// Hidden width n.
    pub width: usize,
    /// ‖mean slice − analytic‖ / ‖analytic‖ at t = 0.
    pub rel_error_of_mean_t0: f64,
    /// The same after training.
    pub rel_error_of_mean_trained: f64,
    /// Mean over networks of ‖slice_t − slice_0‖ / ‖slice_0‖.
    pub mean_rel_kernel_change: f64,
    /// Mean over networks of sup_t ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F on the training set.
    pub sup_train_kernel_change: f64,
    /// Its standard error.
    pub sup_train_kernel_change_stderr: f64,
    /// The same numbers at every recorded step.
    pub at_steps: Vec<StepSummary>,
    /// Mean training loss at t = 0.
    pub loss_t0: f64,
    /// Mean training loss after training.
    pub loss_trained: f64,
}

/// A cell's numbers at one recorded step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// The step t.
    pub t: usize,
    /// ‖mean slice − analytic‖ / ‖analytic‖.
    pub rel_error_of_mean: f64,
    /// Mean over networks of ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F on the training set (None at t = 0).
    pub mean_train_kernel_change: Option<f64>,
}

/// Fig. 1/2: writes the CSV of every slice, the plots, and returns the summary.
pub(crate) fn write_slices(d: &KernelData, run: &FigureRun) -> Result<Written, ExpError> {
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
        let at_steps = s
            .recorded_steps()
            .into_iter()
            .enumerate()
            .map(|(i, t)| StepSummary {
                t,
                rel_error_of_mean: rel_diff(&mean_curve(c.slices_at(i)), &c.analytic),
                mean_train_kernel_change: (i > 0).then(|| mean(&c.train_change[i - 1])),
            })
            .collect();
        let sup = sup_train_change(c);
        cells_json.push(CellSummary {
            m: c.m,
            width: c.width,
            rel_error_of_mean_t0: rel_diff(&mean0, &c.analytic),
            rel_error_of_mean_trained: rel_diff(&mean_t, &c.analytic),
            mean_rel_kernel_change: change,
            sup_train_kernel_change: mean(&sup),
            sup_train_kernel_change_stderr: stderr(&sup),
            at_steps,
            loss_t0: c.loss.0,
            loss_trained: c.loss.1,
        });
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
    // Thm. 2.5: sup_t ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F = O(n^(−1/2)): the slope in n should be ≤ −1/2.
    let change_slopes =
        s.ms.iter()
            .map(|&m| {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                for c in d.cells.iter().filter(|c| c.m == m) {
                    for v in sup_train_change(c) {
                        x.push(c.width as f64);
                        y.push(v);
                    }
                }
                WidthSlope {
                    m,
                    fit_over_nets: loglog_fit(&x, &y),
                }
            })
            .collect();
    let summary = SlicesSummary {
        kernel: kernel_name(d.sgl),
        data: s.points.data,
        train_angles: d.train_angles.clone(),
        recorded_steps: s.recorded_steps(),
        plotted_step: s.steps,
        sup_train_kernel_change_vs_width: change_slopes,
        cells: cells_json,
    };
    run.write(&table, &kernel_slices(d), &summary)
}

/// Per network, sup over the recorded t > 0 of ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F on the training set.
fn sup_train_change(c: &KernelCell) -> Vec<f64> {
    (0..c.init.len())
        .map(|k| c.train_change.iter().map(|t| t[k]).fold(0.0, f64::max))
        .collect()
}

/// The mean of `v`.
pub(crate) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Standard error of the mean of `v`.
pub(crate) fn stderr(v: &[f64]) -> f64 {
    let m = mean(v);
    let n = v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0) / n).sqrt()
}

/// Per-network MSEs of a cell at recorded step number `i` (see [`KernelCell::slices_at`]), and
/// the MSE of their mean.
pub(crate) fn cell_mses(c: &KernelCell, i: usize) -> (Vec<f64>, f64) {
    let curves = c.slices_at(i);
    let per_net: Vec<f64> = curves.iter().map(|k| mse(k, &c.analytic)).collect();
    (per_net, mse(&mean_curve(curves), &c.analytic))
}

/// MSE vs width for one (m, t).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MseSlope {
    /// m of erf_m.
    pub m: f64,
    /// The step t.
    pub t: usize,
    /// The widths.
    pub widths: Vec<f64>,
    /// Mean over networks of the MSE, per width.
    pub mean_mse: Vec<f64>,
    /// Slope of log mean MSE against log n.
    pub loglog_slope: Option<f64>,
    /// The fit over every network's MSE, with its standard error.
    pub fit_over_nets: Option<LogLogFit>,
}

/// Fig. B.3/B.4: MSE vs width per m and t; the CSV, the plot, and the fitted slopes.
pub(crate) fn write_mse(d: &KernelData, run: &FigureRun) -> Result<Written, ExpError> {
    let s = &d.settings;
    let mut table = Table::new(&["m", "width", "t", "net", "mse"]);
    let mut slopes = Vec::new();
    for &m in &s.ms {
        for (stage, &t) in s.recorded_steps().iter().enumerate() {
            let mut mean_mse = Vec::new();
            let mut widths = Vec::new();
            let (mut pooled_w, mut pooled_mse) = (Vec::new(), Vec::new());
            for c in d.cells.iter().filter(|c| c.m == m) {
                let (per_net, of_mean) = cell_mses(c, stage);
                pooled_w.extend(per_net.iter().map(|_| c.width as f64));
                pooled_mse.extend(&per_net);
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
            slopes.push(MseSlope {
                m,
                t,
                loglog_slope: fit_loglog_slope(&widths, &mean_mse),
                fit_over_nets: loglog_fit(&pooled_w, &pooled_mse),
                widths,
                mean_mse,
            });
        }
    }
    let summary = MseSummary {
        kernel: kernel_name(d.sgl),
        recorded_steps: s.recorded_steps(),
        slopes,
    };
    run.write(&table, &kernel_mse(d), &summary)
}

/// Fig. 1/2: one panel per (m, n), asinh y axis, the legend in the first panel.
fn kernel_slices(d: &KernelData) -> plot::Figure {
    let (s, x, name) = (&d.settings, &d.grid, if d.sgl { "SG-NTK" } else { "NTK" });
    let panel = |(i, c): (usize, &KernelCell)| {
        let title = format!("m = {}, n = {}", c.m, c.width);
        let mut p = Panel::new(title, "Δα", &format!("empirical {name}"));
        p.y.scale = Scale::Asinh(1.0);
        p.series = networks("t = 0", x, &c.init, BLUE, 0.6);
        let t = format!("t = {}", s.steps);
        p.series.extend(networks(&t, x, &c.trained, ORANGE, 0.6));
        let limit = line("m → ∞", x, &d.limit, GREY, Mark::Line(1));
        let analytic = format!("analytic {name}");
        let analytic = line(&analytic, x, &c.analytic, BLACK, Mark::Dashed(2));
        p.series.extend([limit, analytic]);
        p.legend = (i == 0).then_some(LegendPos::LowerMiddle);
        p
    };
    let (rule, t, nets) = (if d.sgl { "SGL" } else { "GD" }, s.steps, s.nets);
    let title = format!(
        "Empirical {name} at t = 0 and t = {t} ({rule}) vs analytic, {nets} nets per panel"
    );
    let panels = d.cells.iter().enumerate().map(panel).collect();
    let grid = (s.ms.len(), s.widths.len());
    plot::Figure::new(Some(title), grid, (420, 320), panels)
}

/// Fig. B.3/B.4: MSE vs width (log–log), one panel per m.
fn kernel_mse(d: &KernelData) -> plot::Figure {
    let (s, name) = (&d.settings, if d.sgl { "SG-NTK" } else { "NTK" });
    let last = s.recorded_steps().len() - 1;
    let panel = |(i, &m): (usize, &f64)| {
        let y_label = format!("MSE to analytic {name}");
        let mut p = Panel::new(format!("m = {m}"), "width n", &y_label);
        (p.x.scale, p.y.scale) = (Scale::Log10, Scale::Log10);
        let stages = [(0, BLUE, Mark::Line(2)), (last, ORANGE, Mark::Dashed(2))];
        for (stage, color, mark) in stages {
            let (mut xs, mut ys, mut mx, mut my) = (vec![], vec![], vec![], vec![]);
            for c in d.cells.iter().filter(|c| c.m == m) {
                let (per_net, _) = cell_mses(c, stage);
                xs.extend(per_net.iter().map(|_| c.width as f64));
                ys.extend(&per_net);
                mx.push(c.width as f64);
                my.push(per_net.iter().sum::<f64>() / per_net.len() as f64);
            }
            let t = if stage == 0 { 0 } else { s.steps };
            let dots = Series::line(Some(format!("t = {t}, per net")), &xs, &ys, color, 0.5);
            let mean = line(&format!("t = {t}, mean"), &mx, &my, color, mark);
            p.series.extend([dots.mark(Mark::Dots(3)), mean]);
        }
        p.legend = (i == 0).then_some(LegendPos::LowerLeft);
        p
    };
    let title = format!("MSE between empirical and analytic {name} vs width");
    let panels = s.ms.iter().enumerate().map(panel).collect();
    plot::Figure::new(Some(title), (1, s.ms.len()), (440, 360), panels)
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
