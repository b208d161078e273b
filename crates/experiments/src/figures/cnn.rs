//! `sgntk figure cnn`: Fig. 2 and Fig. B.4 for convolutional networks — the empirical SG-NTK of
//! erf_m CNNs at t = 0 and after SGL against the analytic SG-NTK, and its MSE vs channels.
//!
//! **Inputs.** The paper's circle x(α) = (sin α, cos α) embedded in image space:
//! x(α) = √n0 · (sin α · a + cos α · b) with a, b an orthonormal pair of `image_seed`'s
//! directions ([`embedded_circle`]; n0 = H·W·C_in values, mean square 1 per pixel). Training
//! images x(α_i) at the figure's training angles, targets the paper's f(sin α_i, cos α_i);
//! kernel slices K(x(Δα), x(0)) over the test grid, the grid image first, as in Fig. 1/2.
//!
//! **Networks.** conv(C) → φ → conv(C) → φ → readout → Dense{1} (settings `filter`, `padding`,
//! `readout`; NTK parameterization as neural-tangents' `stax.Conv`, see `sgntk_model::conv`)
//! with φ = erf_m, trained by SGL with σ̃ for `steps` full-batch steps of
//! L = 1/(2d) Σ (f − y)² ([`train_flat`], docs/MATH.md §3).
//!
//! **Kernels.** The empirical SG-NTK Î(x, x') = J_{φ'}(x) J_{σ̃}(x')ᵀ (paper Def. C.5,
//! docs/MATH.md §4) through the generic per-sample Jacobian path ([`jacobian_kernel`]); the
//! analytic SG-NTK I(x, x') of the same network at infinitely many channels through the
//! convolutional kernel maps (`sgntk_ntk::analytic::conv`: docs/MATH.md §5 over positions) —
//! the two kernel paths `sgntk kernel --net` uses, none of the figure's own. Per network,
//! MSE = mean over the grid of (Î − I)² (the measure of Fig. B.4); per (m, t) a least-squares
//! line of log MSE against log C over every network (slope ± its standard error,
//! [`loglog_fit`]). The MLP's Thm. 2.4/2.5 carried over to channels predict Î → I as C → ∞ at
//! t = 0 and during training; fluctuations of O(C^(−1/2)) give a slope near −1.
//!
//! **Sign CNNs.** A sign network's Jacobian with φ' is 0 almost everywhere (φ' = 2δ), so the
//! empirical SG-NTK of a finite sign CNN does not exist; the figure trains erf_m CNNs and draws
//! the analytic SG-NTK of the sign CNN (σ̃ on the second side, finite) as the m → ∞ reference.
//! (`crates/ntk/tests/cnn_empirical.rs` tests sign CNNs through SGL steps instead.)

use serde::{Deserialize, Serialize};
use sgntk_model::data::{circle_points, embedded_circle, targets, test_grid, DataSource};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{train_flat, Activation, LearningRule, NetSpec, TrainConfig, TrainSet};
use sgntk_ntk::empirical::{jacobian_kernel, DerivativePair};
use sgntk_ntk::{kernel_matrix, KernelKind, Kernels, Method};

use super::kernels::{loglog_fit, mean, mean_curve, mse, rel_diff, stderr, LogLogFit};
use super::plots::{line, networks, BLACK, BLUE, GREY, ORANGE};
use super::{ChunkJob, Figure, FigureRun, Written};
use crate::cache::{check_curves, check_finite, exact, Validate};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, LegendPos, Mark, Panel, Scale, Series};
use crate::settings::CnnFigure;

/// The CNN figure (settings table `cnn`).
pub struct CnnKernels;

/// The images of the figure: the test grid's and the training set.
pub(crate) struct CnnPoints {
    /// Δα over the test grid.
    pub grid: Vec<f64>,
    /// x(Δα) on the grid, one image per row.
    pub x: DMatrix<f64>,
    /// The slices' fixed image x(0).
    pub x0: DMatrix<f64>,
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// The training images and their targets.
    pub train: TrainSet,
}

impl CnnPoints {
    /// The images of settings `s` (validated).
    pub(crate) fn new(s: &CnnFigure) -> Result<Self, ExpError> {
        let n0: usize = s.input_shape.iter().product();
        let images = |alphas: &[f64]| embedded_circle(alphas, n0, s.image_seed);
        let grid = test_grid(s.points.grid);
        let train_angles = s.points.train_angles().map_err(ExpError::Usage)?;
        Ok(CnnPoints {
            x: images(&grid),
            x0: images(&[0.0]),
            train: TrainSet {
                x: images(&train_angles),
                y: targets(&circle_points(&train_angles)),
            },
            grid,
            train_angles,
        })
    }
}

/// One network's kernel slices, as a chunk job computes them.
#[derive(Serialize, Deserialize)]
pub(crate) struct CnnNetwork {
    /// Î(x(Δα), x(0)) at t = 0 and after `steps` SGL steps.
    #[serde(with = "exact")]
    pub slices: Vec<Vec<f64>>,
    /// Training loss at t = 0 and after training.
    #[serde(with = "exact")]
    pub loss: (f64, f64),
}

impl Validate for CnnNetwork {
    /// Points of the grid.
    type Expect = usize;
    fn check(&self, &points: &usize) -> Result<(), String> {
        check_curves("slices", &self.slices, 2, points)?;
        check_finite("loss", &[self.loss.0, self.loss.1])
    }
}

/// What a network's numbers depend on (the cache key).
#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    /// The settings without the lists of cells.
    settings: &'a CnnFigure,
    m: f64,
    channels: usize,
    seed: u64,
    backend: &'a str,
    member: usize,
}

/// Network `member` of the (m, C) cell of `s`, seeded with `seed`: its kernel slices at t = 0 and
/// after SGL, and its losses.
pub(crate) fn train_network(
    s: &CnnFigure,
    p: &CnnPoints,
    m: f64,
    channels: usize,
    seed: u64,
    member: usize,
    device: &sgntk_model::burn::tensor::Device,
) -> Result<CnnNetwork, ExpError> {
    let mut net = s
        .spec(Activation::Erf { m }, channels)
        .init(seed, member, device)?;
    let pair = DerivativePair::sg_ntk(s.surrogate);
    let slice = |net: &_| -> Result<Vec<f64>, ExpError> {
        Ok(jacobian_kernel(net, &p.x, &p.x0, pair)?
            .iter()
            .copied()
            .collect())
    };
    let init = slice(&net)?;
    let config = TrainConfig::new(LearningRule::Sgl(s.surrogate), s.lr, s.steps);
    let report = train_flat(&mut net, &p.train, &config, &[], |_, _| Ok(()))?;
    let loss = (
        report.loss[0],
        *report.loss.last().expect("steps + 1 losses"),
    );
    Ok(CnnNetwork {
        slices: vec![init, slice(&net)?],
        loss,
    })
}

/// The analytic SG-NTK slice I(x(Δα), x(0)) of the CNN of `s` with activation `phi` (infinite
/// channels: the channel count of the spec does not enter).
pub(crate) fn analytic_slice(
    s: &CnnFigure,
    p: &CnnPoints,
    phi: Activation,
) -> Result<Vec<f64>, ExpError> {
    let spec: NetSpec = s.spec(phi, s.channels[0]);
    let kernels = Kernels::Spec {
        spec: &spec,
        surrogate: s.surrogate,
        method: Method::Auto,
    };
    let k = kernel_matrix(kernels, KernelKind::SgNtk, &p.x, &p.x0)?;
    Ok(k.iter().copied().collect())
}

/// The networks of one (m, C) cell.
pub(crate) struct CnnCell {
    pub m: f64,
    pub channels: usize,
    /// Slices at t = 0, one per network.
    pub init: Vec<Vec<f64>>,
    /// Slices after training, one per network.
    pub trained: Vec<Vec<f64>>,
    /// Mean training loss at t = 0 and after training.
    pub loss: (f64, f64),
}

impl CnnCell {
    /// Per network, the MSE to `analytic` at stage 0 (t = 0) or 1 (trained).
    pub(crate) fn mses(&self, stage: usize, analytic: &[f64]) -> Vec<f64> {
        let curves = if stage == 0 {
            &self.init
        } else {
            &self.trained
        };
        curves.iter().map(|c| mse(c, analytic)).collect()
    }
}

/// The summary of `figure cnn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnSummary {
    /// The networks, in words.
    pub network: String,
    /// Where the training angles came from.
    pub data: DataSource,
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// The analytic SG-NTK at Δα = 0, per m and for the sign CNN (m → ∞).
    pub analytic_at_zero: Vec<AnalyticAtZero>,
    /// One per (m, C), m-major.
    pub cells: Vec<CnnCellSummary>,
    /// MSE vs channels, one per (m, t).
    pub slopes: Vec<ChannelSlope>,
}

/// The analytic kernel at Δα = 0 of one activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyticAtZero {
    /// `erf:m` or `sign`.
    pub activation: String,
    /// I(x(0), x(0)).
    pub value: f64,
}

/// The numbers of one (m, C) cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnCellSummary {
    /// m of erf_m.
    pub m: f64,
    /// Channels C.
    pub channels: usize,
    /// Networks.
    pub nets: usize,
    /// Mean over networks of the MSE to the analytic SG-NTK at t = 0.
    pub mse_t0: f64,
    /// Its standard error (sample sd / √nets).
    pub mse_t0_stderr: f64,
    /// The same after training.
    pub mse_trained: f64,
    /// Its standard error.
    pub mse_trained_stderr: f64,
    /// ‖mean slice − analytic‖ / ‖analytic‖ at t = 0.
    pub rel_error_of_mean_t0: f64,
    /// The same after training.
    pub rel_error_of_mean_trained: f64,
    /// Mean over networks of ‖slice_t − slice_0‖ / ‖slice_0‖.
    pub mean_rel_kernel_change: f64,
    /// Mean training loss at t = 0.
    pub loss_t0: f64,
    /// Mean training loss after training.
    pub loss_trained: f64,
}

/// MSE vs channels for one (m, t).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSlope {
    /// m of erf_m.
    pub m: f64,
    /// The step t (0 or `steps`).
    pub t: usize,
    /// The channel counts.
    pub channels: Vec<usize>,
    /// Mean over networks of the MSE, per channel count.
    pub mean_mse: Vec<f64>,
    /// Its standard error, per channel count.
    pub mse_stderr: Vec<f64>,
    /// log MSE against log C over every network: the slope and its standard error.
    pub fit_over_nets: Option<LogLogFit>,
    /// log mean MSE against log C.
    pub fit_of_means: Option<LogLogFit>,
}

impl Figure for CnnKernels {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let opts = run.opts;
        let s = &opts.settings.cnn;
        s.validate().map_err(ExpError::Usage)?;
        let device = opts.backend.device()?;
        let points = CnnPoints::new(s)?;
        let settings = CnnFigure {
            ms: Vec::new(),
            channels: Vec::new(),
            nets: 0,
            ..s.clone()
        };
        let backend = opts.backend.to_string();
        let members: Vec<(f64, usize, usize)> =
            s.ms.iter()
                .flat_map(|&m| s.channels.iter().map(move |&c| (m, c)))
                .flat_map(|(m, c)| (0..s.nets).map(move |k| (m, c, k)))
                .collect();
        let positions: usize = s.input_shape[..s.input_shape.len() - 1].iter().product();
        let filter: usize = s.filter.iter().product();
        let jobs: Vec<ChunkJob<ChunkKey<'_>, usize>> = members
            .iter()
            .map(|&(m, channels, member)| ChunkJob {
                key: ChunkKey {
                    what: "cnn-kernel",
                    settings: &settings,
                    m,
                    channels,
                    seed: opts.seed,
                    backend: &backend,
                    member,
                },
                expect: points.grid.len(),
                // the second convolution's multiply-adds, per image and step or Jacobian row
                cost: (positions * filter * channels * channels) as f64
                    * (s.steps * s.points.train_points + 2 * points.grid.len() + 2) as f64,
                steps: s.steps as u64,
            })
            .collect();
        let pb = run.progress_bar();
        let results = run.run_chunks(&jobs, &pb, |i| {
            let (m, channels, member) = members[i];
            let net = train_network(s, &points, m, channels, opts.seed, member, &device)?;
            pb.inc(s.steps as u64);
            Ok(net)
        })?;
        let Some(results) = results else {
            return Ok(None);
        };
        let mut cells: Vec<CnnCell> = Vec::new();
        for (&(m, channels, _), net) in members.iter().zip(results) {
            if cells
                .last()
                .is_none_or(|c| c.m != m || c.channels != channels)
            {
                cells.push(CnnCell {
                    m,
                    channels,
                    init: Vec::new(),
                    trained: Vec::new(),
                    loss: (0.0, 0.0),
                });
            }
            let c = cells.last_mut().expect("pushed above");
            let [init, trained]: [Vec<f64>; 2] =
                net.slices.try_into().expect("validated: two slices");
            c.init.push(init);
            c.trained.push(trained);
            c.loss.0 += net.loss.0 / s.nets as f64;
            c.loss.1 += net.loss.1 / s.nets as f64;
        }
        let analytic: Vec<Vec<f64>> =
            s.ms.iter()
                .map(|&m| analytic_slice(s, &points, Activation::Erf { m }))
                .collect::<Result<_, _>>()?;
        let limit = analytic_slice(s, &points, Activation::Sign)?;
        let data = CnnData {
            s,
            points: &points,
            cells: &cells,
            analytic: &analytic,
            limit: &limit,
        };
        let summary = data.summary();
        run.write(&data.table(), &data.plot(&summary), &summary)
            .map(Some)
    }
}

/// Everything the figure writes.
struct CnnData<'a> {
    s: &'a CnnFigure,
    points: &'a CnnPoints,
    cells: &'a [CnnCell],
    /// The analytic slice per m (in `s.ms` order).
    analytic: &'a [Vec<f64>],
    /// The sign CNN's analytic slice.
    limit: &'a [f64],
}

/// Mean and standard error of the mean of `v` (kernels' `mean` and `stderr`).
fn mean_se(v: &[f64]) -> (f64, f64) {
    (mean(v), stderr(v))
}

/// The fit of log MSE against log C over every network of the cells `cells` at `stage`, and the
/// per-channel means with their standard errors.
pub(crate) fn channel_slope(
    cells: &[&CnnCell],
    stage: usize,
    analytic: &[f64],
) -> (Vec<(f64, f64)>, Option<LogLogFit>, Option<LogLogFit>) {
    let (mut xs, mut ys, mut means) = (Vec::new(), Vec::new(), Vec::new());
    for c in cells {
        let per_net = c.mses(stage, analytic);
        xs.extend(per_net.iter().map(|_| c.channels as f64));
        ys.extend(&per_net);
        means.push(mean_se(&per_net));
    }
    let cs: Vec<f64> = cells.iter().map(|c| c.channels as f64).collect();
    let mean_values: Vec<f64> = means.iter().map(|m| m.0).collect();
    (means, loglog_fit(&xs, &ys), loglog_fit(&cs, &mean_values))
}

impl CnnData<'_> {
    fn m_index(&self, m: f64) -> usize {
        self.s.ms.iter().position(|&x| x == m).expect("a cell's m")
    }

    fn cells_of(&self, m: f64) -> Vec<&CnnCell> {
        self.cells.iter().filter(|c| c.m == m).collect()
    }

    fn network(&self) -> String {
        let s = self.s;
        let readout = match s.readout {
            sgntk_model::Layer::Flatten => "flatten",
            _ => "global-average-pool",
        };
        format!(
            "{:?} → conv(C, {:?}, {}) → erf_m → conv(C, {:?}, {}) → erf_m → {readout} → dense(1); σw = {}, σb = {}",
            s.input_shape, s.filter, s.padding, s.filter, s.padding, s.sigma_w, s.sigma_b
        )
    }

    fn summary(&self) -> CnnSummary {
        let s = self.s;
        let cells = self
            .cells
            .iter()
            .map(|c| {
                let analytic = &self.analytic[self.m_index(c.m)];
                let (mse_t0, mse_t0_stderr) = mean_se(&c.mses(0, analytic));
                let (mse_trained, mse_trained_stderr) = mean_se(&c.mses(1, analytic));
                let change = c
                    .init
                    .iter()
                    .zip(&c.trained)
                    .map(|(a, b)| rel_diff(b, a))
                    .sum::<f64>()
                    / c.init.len() as f64;
                CnnCellSummary {
                    m: c.m,
                    channels: c.channels,
                    nets: c.init.len(),
                    mse_t0,
                    mse_t0_stderr,
                    mse_trained,
                    mse_trained_stderr,
                    rel_error_of_mean_t0: rel_diff(&mean_curve(&c.init), analytic),
                    rel_error_of_mean_trained: rel_diff(&mean_curve(&c.trained), analytic),
                    mean_rel_kernel_change: change,
                    loss_t0: c.loss.0,
                    loss_trained: c.loss.1,
                }
            })
            .collect();
        let mut slopes = Vec::new();
        for (i, &m) in s.ms.iter().enumerate() {
            let cells = self.cells_of(m);
            for (stage, t) in [(0, 0), (1, s.steps)] {
                let (means, fit_over_nets, fit_of_means) =
                    channel_slope(&cells, stage, &self.analytic[i]);
                slopes.push(ChannelSlope {
                    m,
                    t,
                    channels: cells.iter().map(|c| c.channels).collect(),
                    mean_mse: means.iter().map(|v| v.0).collect(),
                    mse_stderr: means.iter().map(|v| v.1).collect(),
                    fit_over_nets,
                    fit_of_means,
                });
            }
        }
        // Δα = 0 is the grid point nearest 0 (exactly 0 on an even grid)
        let zero = (self.points.grid.iter().enumerate())
            .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map_or(0, |(i, _)| i);
        let mut analytic_at_zero: Vec<AnalyticAtZero> = (s.ms.iter().zip(self.analytic))
            .map(|(m, a)| AnalyticAtZero {
                activation: Activation::Erf { m: *m }.to_string(),
                value: a[zero],
            })
            .collect();
        analytic_at_zero.push(AnalyticAtZero {
            activation: Activation::Sign.to_string(),
            value: self.limit[zero],
        });
        CnnSummary {
            network: self.network(),
            data: s.points.data,
            train_angles: self.points.train_angles.clone(),
            analytic_at_zero,
            cells,
            slopes,
        }
    }

    /// The CSV: every slice, the analytic slices, and every network's MSE.
    fn table(&self) -> Table {
        let (s, grid) = (self.s, &self.points.grid);
        let mut table = Table::new(&["curve", "m", "channels", "t", "net", "delta_alpha", "value"]);
        for c in self.cells {
            let analytic = &self.analytic[self.m_index(c.m)];
            for (stage, t, curves) in [(0, 0, &c.init), (1, s.steps, &c.trained)] {
                for (k, curve) in curves.iter().enumerate() {
                    for (a, v) in grid.iter().zip(curve) {
                        table.push(&[
                            Cell::Text("empirical"),
                            Cell::Num(c.m),
                            Cell::Int(c.channels),
                            Cell::Int(t),
                            Cell::Int(k),
                            Cell::Num(*a),
                            Cell::Num(*v),
                        ]);
                    }
                }
                for (k, v) in c.mses(stage, analytic).iter().enumerate() {
                    table.push(&[
                        Cell::Text("mse"),
                        Cell::Num(c.m),
                        Cell::Int(c.channels),
                        Cell::Int(t),
                        Cell::Int(k),
                        Cell::Empty,
                        Cell::Num(*v),
                    ]);
                }
            }
        }
        let analytic = (s.ms.iter().zip(self.analytic)).map(|(m, a)| ("analytic", Some(*m), a));
        for (name, m, curve) in analytic.chain([("analytic_sign", None, &self.limit.to_vec())]) {
            for (a, v) in grid.iter().zip(curve) {
                table.push(&[
                    Cell::Text(name),
                    m.map_or(Cell::Empty, Cell::Num),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Num(*a),
                    Cell::Num(*v),
                ]);
            }
        }
        table
    }

    /// One row per m: the slices of each channel count, then the MSE vs channels (log–log).
    fn plot(&self, summary: &CnnSummary) -> plot::Figure {
        let (s, x) = (self.s, &self.points.grid);
        let mut panels = Vec::new();
        for (i, &m) in s.ms.iter().enumerate() {
            let analytic = &self.analytic[i];
            for (j, c) in self.cells_of(m).into_iter().enumerate() {
                let title = format!("m = {m}, C = {}", c.channels);
                let mut p = Panel::new(title, "Δα", "empirical SG-NTK");
                p.series = networks("t = 0", x, &c.init, BLUE, 0.6);
                let t = format!("t = {}", s.steps);
                p.series.extend(networks(&t, x, &c.trained, ORANGE, 0.6));
                p.series
                    .push(line("sign (m → ∞)", x, self.limit, GREY, Mark::Line(1)));
                p.series
                    .push(line("analytic SG-NTK", x, analytic, BLACK, Mark::Dashed(2)));
                p.legend = (i == 0 && j == 0).then_some(LegendPos::LowerMiddle);
                panels.push(p);
            }
            panels.push(self.mse_panel(m, summary));
        }
        let (t, nets, sur) = (s.steps, s.nets, s.surrogate);
        let title = format!(
            "erf_m CNNs ({:?} images): empirical SG-NTK at t = 0 and after {t} SGL steps (σ̃ = {sur}) vs analytic, {nets} nets per panel; MSE vs channels",
            s.input_shape
        );
        let grid = (s.ms.len(), s.channels.len() + 1);
        plot::Figure::new(Some(title), grid, (400, 320), panels)
    }

    /// MSE vs channels for one m: every network, the means ± standard error, the fitted lines.
    fn mse_panel(&self, m: f64, summary: &CnnSummary) -> Panel {
        let s = self.s;
        let mut p = Panel::new(format!("m = {m}: MSE vs channels"), "channels C", "MSE");
        (p.x.scale, p.y.scale) = (Scale::Log10, Scale::Log10);
        let stages = [(0, 0, BLUE, 0.92), (1, s.steps, ORANGE, 1.08)];
        for (stage, t, color, shift) in stages {
            let slope = summary
                .slopes
                .iter()
                .find(|f| f.m == m && f.t == t)
                .expect("one per (m, t)");
            let cs: Vec<f64> = slope.channels.iter().map(|&c| c as f64).collect();
            let analytic = &self.analytic[self.m_index(m)];
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for c in self.cells_of(m) {
                let per_net = c.mses(stage, analytic);
                xs.extend(per_net.iter().map(|_| c.channels as f64));
                ys.extend(per_net);
            }
            // the networks' dots beside their channel count, t = 0 left and trained right
            let beside: Vec<f64> = xs.iter().map(|c| c * shift).collect();
            p.series
                .push(Series::line(None, &beside, &ys, color, 0.35).mark(Mark::Dots(2)));
            for ((c, mean), se) in cs.iter().zip(&slope.mean_mse).zip(&slope.mse_stderr) {
                let bar = [mean - se, mean + se];
                p.series
                    .push(Series::line(None, &[*c; 2], &bar, color, 1.0).mark(Mark::Line(2)));
            }
            let label = format!("t = {t}: mean ± se");
            p.series.push(
                Series::line(Some(label), &cs, &slope.mean_mse, color, 1.0).mark(Mark::Line(2)),
            );
            if let Some(fit) = slope.fit_over_nets {
                let se = fit.stderr.map_or(String::new(), |e| format!(" ± {e:.2}"));
                let label = format!("t = {t}: slope {:.2}{se}", fit.slope);
                let fitted = fitted_line(&xs, &ys, fit.slope);
                p.series
                    .push(line(&label, &cs, &fitted(&cs), color, Mark::Dashed(1)));
            }
        }
        p.legend = Some(LegendPos::LowerLeft);
        p
    }
}

/// The least-squares line of log y against log x with slope `slope`, evaluated at points.
fn fitted_line(x: &[f64], y: &[f64], slope: f64) -> impl Fn(&[f64]) -> Vec<f64> {
    let pts: Vec<(f64, f64)> = (x.iter().zip(y))
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| (a.ln(), b.ln()))
        .collect();
    let n = pts.len().max(1) as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    move |at: &[f64]| {
        at.iter()
            .map(|c| (my + slope * (c.ln() - mx)).exp())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Preset, Settings};
    use sgntk_model::{BackendKind, Layer};

    #[test]
    fn the_mse_to_the_analytic_sgntk_falls_with_channels() {
        // The figure's own computation at a small size: 8 erf_2 CNNs with C = 4 and 8 with C = 64
        // (5 SGL steps, a 12-point grid). At t = 0 and after training, the mean MSE at C = 4
        // exceeds the mean at C = 64 by more than 3 standard errors of the difference, and the
        // slope of log MSE against log C over the 16 networks lies more than 3 of its standard
        // errors below 0. (Fluctuations of O(C^(−1/2)) make the MSE ∝ 1/C: 16× apart expected.)
        // Measured: 0.053 ± 0.006 vs 0.0047 ± 0.0015, 7.4 se apart, slope −0.94 ± 0.10 at t = 0;
        // 11.9 se and −0.92 ± 0.09 after training.
        let s = CnnFigure {
            ms: vec![2.0],
            channels: vec![4, 64],
            nets: 8,
            steps: 5,
            points: crate::settings::Points {
                grid: 12,
                ..Settings::preset(Preset::Quick).cnn.points
            },
            ..Settings::preset(Preset::Quick).cnn
        };
        s.validate().unwrap();
        let device = BackendKind::Flex.device().unwrap();
        let p = CnnPoints::new(&s).unwrap();
        let analytic = analytic_slice(&s, &p, Activation::Erf { m: 2.0 }).unwrap();
        let cells: Vec<CnnCell> = (s.channels.iter())
            .map(|&channels| {
                let nets: Vec<CnnNetwork> = (0..s.nets)
                    .map(|k| train_network(&s, &p, 2.0, channels, 1, k, &device).unwrap())
                    .collect();
                CnnCell {
                    m: 2.0,
                    channels,
                    init: nets.iter().map(|n| n.slices[0].clone()).collect(),
                    trained: nets.iter().map(|n| n.slices[1].clone()).collect(),
                    loss: (0.0, 0.0),
                }
            })
            .collect();
        for stage in [0, 1] {
            let refs: Vec<&CnnCell> = cells.iter().collect();
            let (means, fit, _) = channel_slope(&refs, stage, &analytic);
            let [(narrow, se_n), (wide, se_w)] = [means[0], means[1]];
            let z = (narrow - wide) / (se_n * se_n + se_w * se_w).sqrt();
            let fit = fit.unwrap();
            let slope_z = -fit.slope / fit.stderr.unwrap();
            println!(
                "stage {stage}: MSE {narrow:.4} ± {se_n:.4} (C = 4), {wide:.5} ± {se_w:.5} \
                 (C = 64): {z:.1} se apart; slope {:.2} ± {:.2}",
                fit.slope,
                fit.stderr.unwrap()
            );
            assert!(z > 3.0, "stage {stage}: only {z:.2} se apart");
            assert!(slope_z > 3.0, "stage {stage}: slope {fit:?}");
        }
    }

    #[test]
    fn settings_that_are_no_cnn_figure_are_refused() {
        let base = Settings::preset(Preset::Quick).cnn;
        let dense = CnnFigure {
            readout: Layer::Dense { width: 3 },
            ..base.clone()
        };
        assert!(dense.validate().unwrap_err().contains("readout"));
        let one = CnnFigure {
            nets: 1,
            ..base.clone()
        };
        assert!(one.validate().unwrap_err().contains("nets ≥ 2"));
        let flat = CnnFigure {
            input_shape: vec![64],
            ..base.clone()
        };
        assert!(flat.validate().unwrap_err().contains("input_shape"));
        let big = CnnFigure {
            padding: sgntk_model::Padding::Valid,
            filter: vec![9, 9],
            ..base
        };
        assert!(big.validate().unwrap_err().contains("channels = 8"));
    }
}
