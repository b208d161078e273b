//! `sgntk figure snn`: the empirical kernel of discrete-time LIF spiking networks trained by SGL
//! through time, at initialization and after training — Fig. 2's question for an SNN.
//!
//! The spike function (Heaviside) has no useful derivative, so the kernel uses the surrogate on
//! both sides, K(x, x') = J̃(x) J̃(x')ᵀ, computed by the generic per-sample-Jacobian path
//! ([`jacobian_kernel`]; no SNN-specific kernel code). Slices K(x(Δα), x(0)) as in Fig. 1/2.

use serde::{Deserialize, Serialize};
use sgntk_model::data::targets;
use sgntk_model::{train_flat, LearningRule, Snn, SnnParams, TrainConfig};
use sgntk_ntk::empirical::{jacobian_kernel, DerivativePair};

use super::kernels::{mean_curve, SlicePoints};
use super::plots::{line, networks, BLACK, BLUE, ORANGE};
use super::{ChunkJob, Figure, FigureRun, Written};
use crate::cache::{check_curves, check_finite, exact, Validate};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, Band, LegendPos, Mark, Panel, Series};
use crate::settings::SnnFigure;

/// The LIF network figure (settings table `snn`).
pub struct SnnKernels;

/// The summary of `figure snn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnnSummary {
    /// The training angles.
    pub train_angles: Vec<f64>,
    /// One per width.
    pub widths: Vec<SnnWidthSummary>,
}

/// One width's networks, as [`snn`] draws them.
pub(crate) struct SnnWidth {
    pub width: usize,
    /// Slices K(x(Δα), x(0)) at t = 0, one per network.
    pub init: Vec<Vec<f64>>,
    /// The same after training.
    pub trained: Vec<Vec<f64>>,
    /// Each trained network's outputs on the grid.
    pub outputs: Vec<Vec<f64>>,
    /// Mean training loss at t = 0 and after training.
    pub loss: (f64, f64),
}

/// A saved network: its two slices, its outputs and its losses.
#[derive(Serialize, Deserialize)]
struct ChunkSnn {
    #[serde(with = "exact")]
    slices: Vec<Vec<f64>>,
    #[serde(with = "exact")]
    outputs: Vec<f64>,
    #[serde(with = "exact")]
    loss: (f64, f64),
}

impl Validate for ChunkSnn {
    /// Points of the grid.
    type Expect = usize;
    fn check(&self, &points: &usize) -> Result<(), String> {
        check_curves("slices", &self.slices, 2, points)?;
        check_curves("outputs", std::slice::from_ref(&self.outputs), 1, points)?;
        check_finite("loss", &[self.loss.0, self.loss.1])
    }
}

/// What a network's numbers depend on (the cache key).
#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    settings: &'a SnnFigure,
    width: usize,
    seed: u64,
    backend: &'a str,
    member: usize,
}

impl Figure for SnnKernels {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let opts = run.opts;
        let s = &opts.settings.snn;
        s.validate().map_err(ExpError::Usage)?;
        let device = opts.backend.device()?;
        let SlicePoints {
            grid,
            x: xs,
            x0,
            train_angles: angles,
            train: set,
        } = SlicePoints::new(&s.points)?;
        let pair = DerivativePair {
            g1: s.surrogate,
            g2: s.surrogate,
        };
        let config = TrainConfig::new(LearningRule::Sgl(s.surrogate), s.lr, s.steps);
        let settings = SnnFigure {
            widths: Vec::new(),
            nets: 0,
            ..s.clone()
        };
        let backend = opts.backend.to_string();
        let members: Vec<(usize, usize)> = s
            .widths
            .iter()
            .flat_map(|&w| (0..s.nets).map(move |k| (w, k)))
            .collect();
        let jobs: Vec<ChunkJob<ChunkKey<'_>, usize>> = members
            .iter()
            .map(|&(width, member)| ChunkJob {
                key: ChunkKey {
                    what: "snn-kernel",
                    settings: &settings,
                    width,
                    seed: opts.seed,
                    backend: &backend,
                    member,
                },
                expect: grid.len(),
                // recurrent weights: n² per time step
                cost: (width * width * s.time_steps * s.steps) as f64,
                steps: s.steps as u64,
            })
            .collect();
        let pb = run.progress_bar();
        let slice = |snn: &Snn| -> Result<Vec<f64>, ExpError> {
            Ok(jacobian_kernel(snn, &xs, &x0, pair)?
                .iter()
                .copied()
                .collect())
        };
        let results = run.run_chunks(&jobs, &pb, |i| {
            let (width, member) = members[i];
            let c = s.config(width);
            let mut snn =
                Snn::from_host(&c, &SnnParams::init_member(&c, opts.seed, member), &device)?;
            let init = slice(&snn)?;
            let report = train_flat(&mut snn, &set, &config, &[], |_, _| Ok(()))?;
            pb.inc(s.steps as u64);
            let loss = (
                report.loss[0],
                *report.loss.last().expect("steps + 1 losses"),
            );
            Ok(ChunkSnn {
                slices: vec![init, slice(&snn)?],
                outputs: snn.predict(&xs)?.iter().copied().collect(),
                loss,
            })
        })?;
        let Some(results) = results else {
            return Ok(None);
        };
        let mut widths: Vec<SnnWidth> = Vec::new();
        for (&(width, _), chunk) in members.iter().zip(results) {
            if widths.last().is_none_or(|w| w.width != width) {
                widths.push(SnnWidth {
                    width,
                    init: Vec::new(),
                    trained: Vec::new(),
                    outputs: Vec::new(),
                    loss: (0.0, 0.0),
                });
            }
            let w = widths.last_mut().expect("pushed above");
            let [init, trained]: [Vec<f64>; 2] =
                chunk.slices.try_into().expect("validated: two slices");
            w.init.push(init);
            w.trained.push(trained);
            w.outputs.push(chunk.outputs);
            w.loss.0 += chunk.loss.0 / s.nets as f64;
            w.loss.1 += chunk.loss.1 / s.nets as f64;
        }
        let target: Vec<f64> = targets(&xs).iter().copied().collect();
        let train = (angles.clone(), set.y.iter().copied().collect());
        let plot = snn(s, &widths, &grid, &target, &train);
        let summary = SnnSummary {
            train_angles: angles,
            widths: widths.iter().map(width_summary).collect(),
        };
        run.write(&table(&widths, &grid), &plot, &summary).map(Some)
    }
}

/// ‖a‖ for a curve.
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Mean and sample standard deviation over curves, point by point.
pub(crate) fn mean_and_std(curves: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let mean = mean_curve(curves);
    let n = curves.len() as f64;
    let std = (0..mean.len())
        .map(|j| {
            let ss: f64 = curves.iter().map(|c| (c[j] - mean[j]).powi(2)).sum();
            (ss / (n - 1.0).max(1.0)).sqrt()
        })
        .collect();
    (mean, std)
}

/// ‖std over curves‖ / ‖mean‖.
fn rel_spread(curves: &[Vec<f64>]) -> f64 {
    let (mean, std) = mean_and_std(curves);
    norm(&std) / norm(&mean)
}

/// The numbers of one width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnnWidthSummary {
    /// Number of LIF neurons n.
    pub width: usize,
    /// Networks.
    pub nets: usize,
    /// ‖std over networks‖ / ‖mean‖ of the slice at t = 0 (falls as the kernel concentrates).
    pub rel_spread_t0: f64,
    /// The same after training.
    pub rel_spread_trained: f64,
    /// Mean over networks of ‖slice_t − slice_0‖ / ‖slice_0‖ (falls with width in the lazy regime).
    pub mean_rel_kernel_change: f64,
    /// Mean training loss at t = 0.
    pub loss_t0: f64,
    /// Mean training loss after training.
    pub loss_trained: f64,
}

fn width_summary(w: &SnnWidth) -> SnnWidthSummary {
    let change = w
        .init
        .iter()
        .zip(&w.trained)
        .map(|(a, b)| {
            let d: Vec<f64> = a.iter().zip(b).map(|(p, q)| q - p).collect();
            norm(&d) / norm(a)
        })
        .sum::<f64>()
        / w.init.len() as f64;
    SnnWidthSummary {
        width: w.width,
        nets: w.init.len(),
        rel_spread_t0: rel_spread(&w.init),
        rel_spread_trained: rel_spread(&w.trained),
        mean_rel_kernel_change: change,
        loss_t0: w.loss.0,
        loss_trained: w.loss.1,
    }
}

/// The CSV: every slice and every trained network's function, one value per row.
fn table(widths: &[SnnWidth], grid: &[f64]) -> Table {
    let mut table = Table::new(&["curve", "width", "net", "alpha", "value"]);
    for w in widths {
        let curves = [
            ("kernel_t0", &w.init),
            ("kernel_trained", &w.trained),
            ("network", &w.outputs),
        ];
        for (name, curves) in curves {
            for (k, c) in curves.iter().enumerate() {
                for (a, v) in grid.iter().zip(c) {
                    table.push(&[
                        Cell::Text(name),
                        Cell::Int(w.width),
                        Cell::Int(k),
                        Cell::Num(*a),
                        Cell::Num(*v),
                    ]);
                }
            }
        }
    }
    table
}

/// `figure snn`: per width, the kernel slices (mean ± std over networks at t = 0 and after
/// training) and the trained networks.
fn snn(
    s: &SnnFigure,
    widths: &[SnnWidth],
    x: &[f64],
    target: &[f64],
    train: &(Vec<f64>, Vec<f64>),
) -> plot::Figure {
    let mut panels = Vec::new();
    for (i, w) in widths.iter().enumerate() {
        let (n, t) = (w.width, s.time_steps);
        let mut k = Panel::new(format!("n = {n}, T = {t}"), "Δα", "K(x(Δα), x(0))");
        let trained = format!("t = {}", s.steps);
        let stages = [
            ("t = 0", &w.init, BLUE),
            (trained.as_str(), &w.trained, ORANGE),
        ];
        for (stage, curves, color) in stages {
            let (mean, std) = mean_and_std(curves);
            let (lower, upper) = mean.iter().zip(&std).map(|(m, s)| (m - s, m + s)).unzip();
            let label = Some(format!("{stage}: mean ± std"));
            let x = x.to_vec();
            k.bands.push(Band {
                label,
                x: x.clone(),
                lower,
                upper,
                color,
                alpha: 0.25,
            });
            k.series
                .push(Series::line(None, &x, &mean, color, 1.0).mark(Mark::Line(2)));
        }
        k.legend = (i == 0).then_some(LegendPos::LowerMiddle);
        let mut f = Panel::new(format!("trained networks, n = {n}"), "α", "f(x(α))");
        f.series = networks("networks", x, &w.outputs, BLUE, 0.35);
        f.series
            .push(line("target", x, target, BLACK, Mark::Dashed(2)));
        f.series
            .push(Series::crosses("training points", &train.0, &train.1));
        f.legend = (i == 0).then_some(LegendPos::LowerRight);
        panels.extend([k, f]);
    }
    let (b, th, sur, t, nets) = (s.beta, s.theta, s.surrogate, s.steps, s.nets);
    let title = format!(
        "LIF networks (β = {b}, θ = {th}): SG-NTK slices and SGL through time with {sur}, {t} steps, {nets} nets"
    );
    plot::Figure::new(Some(title), (widths.len(), 2), (520, 360), panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_identical_curves_is_zero_and_of_opposite_ones_infinite() {
        let c = vec![vec![1.0, 2.0], vec![1.0, 2.0], vec![1.0, 2.0]];
        assert_eq!(rel_spread(&c), 0.0);
        // curves 1 ± 1 at every point: std = √2 (n − 1 = 1), mean = 1
        let c = vec![vec![0.0, 0.0], vec![2.0, 2.0]];
        assert!((rel_spread(&c) - 2f64.sqrt()).abs() < 1e-15);
    }
}
