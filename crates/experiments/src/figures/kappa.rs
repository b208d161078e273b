//! The κ study (`sgntk figure kappa`): does the agreement of Fig. 3a survive a last-layer scale
//! κ < 1 at larger width n and longer training time t, as the paper's App. A says? Sign networks
//! g = κ f trained by SGL (Fig. B.2's settings) for every κ and n, their outputs recorded every
//! `record_every` steps; each cell (κ, n, t) is compared with the SG-NTK GP after t discrete steps
//! (docs/MATH.md §6), whose kernels are κ² times the κ = 1 ones (docs/MATH.md §5), by Fig. 3a's
//! own statistics ([`width_summary`]) with bootstrap standard errors over networks
//! ([`bootstrap_errors`]).

use std::ops::Range;

use serde::{Deserialize, Serialize};
use sgntk_model::{LearningRule, TrainConfig};

use super::plots::{line, BLACK, PALETTE};
use super::regression::{config, outputs_on, Problem};
use super::WidthSummary;
use super::{bootstrap_errors, width_summary, RegressionData, SummaryErrors, WidthResult};
use super::{chunk_ensemble, chunks, widths, ChunkJob, Figure, FigureRun, Written};
use crate::cache::{check_curves, check_finite, exact, Validate};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, Band, LegendPos, Mark, Panel, Scale, Series};
use crate::settings::{KappaFigure, RegressionFigure};
use crate::shard::training_cost;

/// The κ study (reads the `kappa` settings table).
pub struct KappaStudy;

impl Figure for KappaStudy {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let s = &run.opts.settings.kappa;
        let Some(cells) = compute(s, run)? else {
            return Ok(None);
        };
        write(s, &cells, run).map(Some)
    }
}

/// The summary of the κ study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KappaSummary {
    /// How κ enters (an output scale).
    pub kappa_convention: String,
    /// How the standard errors are estimated.
    pub errors: String,
    /// One per (κ, t, n), in the order κ, t, n of the settings.
    pub cells: Vec<KappaCell>,
    /// Per κ: the first (t, n) in the order of the settings at which the networks agree with the
    /// GP (coverage ≥ 0.9 and std_ratio within [0.8, 1.2]), if any.
    pub agreement: Vec<KappaAgreement>,
}

/// One cell of the κ study: Fig. 3a's statistics and their standard errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KappaCell {
    /// Last-layer scale κ.
    pub kappa: f64,
    /// Training time t (steps).
    pub steps: usize,
    /// Fig. 3a's statistics (width, nets, coverage, …, final loss).
    #[serde(flatten)]
    pub summary: WidthSummary,
    /// Their bootstrap standard errors.
    pub se: SummaryErrors,
}

/// Where a κ's networks first agree with the GP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KappaAgreement {
    /// Last-layer scale κ.
    pub kappa: f64,
    /// The criterion.
    pub criterion: String,
    /// The cells (steps, width) that meet it.
    pub cells_meeting_it: Vec<(usize, usize)>,
}

/// The trained networks of one (κ, n), recorded at every `record_every` steps.
#[derive(Serialize, Deserialize)]
struct ChunkRecords {
    /// `[record][net][grid point]`.
    #[serde(with = "exact")]
    outputs: Vec<Vec<Vec<f64>>>,
    /// Mean training loss of the chunk's networks at each record.
    #[serde(with = "exact")]
    loss: Vec<f64>,
}

impl Validate for ChunkRecords {
    /// (records, networks in the chunk, test points)
    type Expect = (usize, usize, usize);
    fn check(&self, &(records, nets, points): &Self::Expect) -> Result<(), String> {
        if self.outputs.len() != records || self.loss.len() != records {
            return Err(format!(
                "{} records of outputs and {} of losses, expected {records}",
                self.outputs.len(),
                self.loss.len()
            ));
        }
        for o in &self.outputs {
            check_curves("outputs", o, nets, points)?;
        }
        check_finite("loss", &self.loss)
    }
}

#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    settings: &'a RegressionFigure,
    record_every: usize,
    width: usize,
    seed: u64,
    backend: &'a str,
    members: (usize, usize),
}

/// The settings a chunk of (κ, n) depends on: one κ, `steps`, nothing of the lists.
fn chunk_settings(s: &KappaFigure, kappa: f64) -> RegressionFigure {
    RegressionFigure {
        widths: Vec::new(),
        nets: 0,
        chunk: 0,
        ..s.cell(kappa, s.steps)
    }
}

/// One (κ, t) of the study: the problem (GP after t steps) and every width's ensemble.
struct KappaTime {
    kappa: f64,
    steps: usize,
    data: RegressionData,
}

/// Trains (or loads) every (κ, n) and assembles each (κ, t) (`None` for a sharded run).
fn compute(s: &KappaFigure, run: &FigureRun) -> Result<Option<Vec<KappaTime>>, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let opts = run.opts;
    let device = opts.backend.device()?;
    let records = s.recorded_steps();
    let record_index = |t: usize| t / s.record_every - 1;
    let base = Problem::new(&s.cell(1.0, s.steps))?;
    let backend = opts.backend.to_string();
    let keys: Vec<RegressionFigure> = s.kappas.iter().map(|&k| chunk_settings(s, k)).collect();
    let units: Vec<(usize, usize, Range<usize>)> = (0..s.kappas.len())
        .flat_map(|k| s.widths_of(s.kappas[k]).into_iter().map(move |w| (k, w)))
        .flat_map(|(k, w)| {
            let parts = chunks(s.nets_of(s.kappas[k], w), s.chunk);
            parts.into_iter().map(move |r| (k, w, r))
        })
        .collect();
    let jobs: Vec<ChunkJob<ChunkKey<'_>, (usize, usize, usize)>> = units
        .iter()
        .map(|(k, width, range)| ChunkJob {
            key: ChunkKey {
                what: "kappa-outputs",
                settings: &keys[*k],
                record_every: s.record_every,
                width: *width,
                seed: opts.seed,
                backend: &backend,
                members: (range.start, range.end),
            },
            expect: (records.len(), range.len(), base.grid.len()),
            cost: training_cost(&widths(*width, s.training.depth), range.len(), s.steps),
            steps: s.steps as u64,
        })
        .collect();
    let pb = run.progress_bar();
    let rule = LearningRule::with_backward(s.surrogate);
    let results = run.run_chunks(&jobs, &pb, |i| {
        let (k, width, range) = units[i].clone();
        let cfg = config(&s.cell(s.kappas[k], s.steps), width);
        let mut ens = chunk_ensemble(&cfg, opts.seed, range, &device)?;
        let train_cfg = TrainConfig::new(rule, s.training.lr, s.steps);
        let mut outputs = Vec::with_capacity(records.len());
        let mut progress = crate::progress::observer(&pb, || false);
        let report = sgntk_model::train_reporting(
            &mut ens,
            &base.data,
            &train_cfg,
            &records,
            |_, e| {
                outputs.push(outputs_on(e, &base.x)?);
                Ok(())
            },
            Some(&mut progress),
        )?;
        let loss = records.iter().map(|&t| report.loss[t]).collect();
        Ok(ChunkRecords { outputs, loss })
    })?;
    let Some(results) = results else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (k, &kappa) in s.kappas.iter().enumerate() {
        for &t in &s.times {
            let cell = s.cell(kappa, t);
            let problem = Problem::new(&cell)?;
            let r = record_index(t);
            let per_width = cell
                .widths
                .iter()
                .map(|&width| {
                    let (mut outputs, mut loss) = (Vec::new(), 0.0);
                    let nets = s.nets_of(kappa, width) as f64;
                    for ((kk, w, range), chunk) in units.iter().zip(&results) {
                        if *kk == k && *w == width {
                            outputs.extend(chunk.outputs[r].iter().cloned());
                            loss += chunk.loss[r] * range.len() as f64 / nets;
                        }
                    }
                    WidthResult {
                        width,
                        outputs,
                        mean: Vec::new(),
                        final_loss: Some(loss),
                    }
                })
                .collect();
            out.push(KappaTime {
                kappa,
                steps: t,
                data: problem.data(&cell, per_width),
            });
        }
    }
    Ok(Some(out))
}

/// The cells' statistics, in the order κ, t, n.
fn cells(s: &KappaFigure, data: &[KappaTime], seed: u64) -> Vec<KappaCell> {
    data.iter()
        .flat_map(|kt| {
            kt.data.widths.iter().map(move |w| KappaCell {
                kappa: kt.kappa,
                steps: kt.steps,
                summary: width_summary(&kt.data, w),
                se: bootstrap_errors(&kt.data.comparison(), w, s.bootstrap, seed),
            })
        })
        .collect()
}

/// Writes the CSV (every network's outputs, the ensemble means, the GP and Σ regression per
/// (κ, t)) and the plot.
fn write(s: &KappaFigure, data: &[KappaTime], run: &FigureRun) -> Result<Written, ExpError> {
    let mut table = Table::new(&["kappa", "steps", "curve", "width", "net", "alpha", "value"]);
    for kt in data {
        let d = &kt.data;
        let mut curve = |name: &str, width: Option<usize>, net: Option<usize>, ys: &[f64]| {
            for (a, v) in d.grid.iter().zip(ys) {
                table.push(&[
                    Cell::Num(kt.kappa),
                    Cell::Int(kt.steps),
                    Cell::Text(name),
                    width.map_or(Cell::Empty, Cell::Int),
                    net.map_or(Cell::Empty, Cell::Int),
                    Cell::Num(*a),
                    Cell::Num(*v),
                ]);
            }
        };
        for w in &d.widths {
            for (k, o) in w.outputs.iter().enumerate() {
                curve("network", Some(w.width), Some(k), o);
            }
            curve("ensemble_mean", Some(w.width), None, &w.mean);
        }
        curve("gp_mean", None, None, &d.gp_mean);
        curve("gp_std", None, None, &d.gp_std);
        curve("sigma_regression", None, None, &d.sigma_regression);
        curve("target", None, None, &d.target);
        for (a, v) in d.train.0.iter().zip(&d.train.1) {
            table.push(&[
                Cell::Num(kt.kappa),
                Cell::Int(kt.steps),
                Cell::Text("train"),
                Cell::Empty,
                Cell::Empty,
                Cell::Num(*a),
                Cell::Num(*v),
            ]);
        }
    }
    let cells = cells(s, data, run.opts.seed);
    let criterion = "coverage >= 0.9 and 0.8 <= std_ratio <= 1.2";
    let agreement = s
        .kappas
        .iter()
        .map(|&kappa| KappaAgreement {
            kappa,
            criterion: criterion.into(),
            cells_meeting_it: cells
                .iter()
                .filter(|c| c.kappa == kappa && agrees(&c.summary))
                .map(|c| (c.steps, c.summary.width))
                .collect(),
        })
        .collect();
    let summary = KappaSummary {
        kappa_convention: "output scale: the networks compute g = kappa * f (docs/MATH.md section 1, paper Sec. C.2.1); kernels are kappa^2 times the kappa = 1 ones".into(),
        errors: format!(
            "se: standard deviation of each statistic over {} bootstrap resamples of the networks (seed {})",
            s.bootstrap, run.opts.seed
        ),
        cells,
        agreement,
    };
    run.write(&table, &plot(s, &summary.cells), &summary)
}

/// The agreement criterion of issue 31: coverage ≥ 0.9 and std_ratio within [0.8, 1.2].
fn agrees(w: &WidthSummary) -> bool {
    w.stats.coverage >= 0.9 && (0.8..=1.2).contains(&w.stats.std_ratio)
}

/// Coverage, std_ratio and mean_z_rms vs n (at the longest time) and vs t (at the largest width),
/// one line per κ with a ±1 standard error band.
fn plot(s: &KappaFigure, cells: &[KappaCell]) -> plot::Figure {
    // (title, axis label, value and SE, ideal value, log scale)
    type Stat = (
        &'static str,
        &'static str,
        fn(&KappaCell) -> (f64, f64),
        f64,
        bool,
    );
    let stats: [Stat; 3] = [
        (
            "coverage of the GP's ±2σ band",
            "coverage",
            |c| (c.summary.stats.coverage, c.se.coverage),
            0.95,
            false,
        ),
        (
            "ensemble std / GP std (median)",
            "std_ratio",
            |c| (c.summary.stats.std_ratio, c.se.std_ratio),
            1.0,
            false,
        ),
        (
            "ensemble mean − GP mean in sampling errors",
            "mean_z_rms",
            |c| (c.summary.stats.mean_z_rms, c.se.mean_z_rms),
            1.0,
            true,
        ),
    ];
    let t_last = *s.times.iter().max().expect("validated: non-empty");
    // vs t: each κ at its largest width
    let n_last = |kappa: f64| *s.widths_of(kappa).last().expect("validated: non-empty");
    let same_n_last = s.kappas.iter().all(|&k| n_last(k) == n_last(s.kappas[0]));
    let mut panels = Vec::new();
    for by_width in [true, false] {
        for (name, axis, stat, reference, log) in stats {
            let x_label = if by_width {
                "width n"
            } else {
                "training steps t"
            };
            let title = if by_width {
                format!("{name}, t = {t_last}")
            } else if same_n_last {
                format!("{name}, n = {}", n_last(s.kappas[0]))
            } else {
                format!("{name}, largest n of each κ")
            };
            let mut p = Panel::new(title, x_label, axis);
            p.x.scale = Scale::Log10;
            if log {
                p.y.scale = Scale::Log10;
            }
            let xs: Vec<f64> = if by_width {
                s.kappas
                    .iter()
                    .flat_map(|&k| s.widths_of(k))
                    .map(|w| w as f64)
                    .collect()
            } else {
                s.times.iter().map(|&t| t as f64).collect()
            };
            let (lo, hi) = (
                xs.iter().copied().fold(f64::INFINITY, f64::min),
                xs.iter().copied().fold(0.0, f64::max),
            );
            let refline = line("ideal", &[lo, hi], &[reference; 2], BLACK, Mark::Dashed(1));
            for (&kappa, color) in s.kappas.iter().zip(PALETTE.iter().cycle()) {
                let mut pts: Vec<(f64, f64, f64)> = cells
                    .iter()
                    .filter(|c| {
                        c.kappa == kappa
                            && if by_width {
                                c.steps == t_last
                            } else {
                                c.summary.width == n_last(kappa)
                            }
                    })
                    .map(|c| {
                        let x = if by_width { c.summary.width } else { c.steps } as f64;
                        let (v, se) = stat(c);
                        (x, v, se)
                    })
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
                let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
                p.bands.push(Band {
                    label: None,
                    x: x.clone(),
                    lower: pts.iter().map(|p| p.1 - p.2).collect(),
                    upper: pts.iter().map(|p| p.1 + p.2).collect(),
                    color: *color,
                    alpha: 0.2,
                });
                let label = if by_width || same_n_last {
                    format!("κ = {kappa}")
                } else {
                    format!("κ = {kappa}, n = {}", n_last(kappa))
                };
                p.series.push(line(&label, &x, &y, *color, Mark::Line(2)));
                p.series
                    .push(Series::line(None, &x, &y, *color, 1.0).mark(Mark::Dots(4)));
            }
            p.series.push(refline);
            p.legend = Some(LegendPos::LowerRight);
            panels.push(p);
        }
    }
    let (act, sur) = (&s.activation, &s.surrogate);
    let mut counts: Vec<usize> = cells.iter().map(|c| c.summary.nets).collect();
    counts.sort_unstable();
    counts.dedup();
    let nets = match counts[..] {
        [n] => format!("{n} nets per cell"),
        _ => format!("{}–{} nets per cell", counts[0], counts[counts.len() - 1]),
    };
    let title = format!(
        "{act} networks g = κ f, SGL with {sur}, {nets}, vs the SG-NTK GP after t steps (±1 bootstrap SE)"
    );
    plot::Figure::new(Some(title), (2, 3), (520, 380), panels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Preset, Settings};
    use sgntk_model::nalgebra::DMatrix;
    use sgntk_ntk::{gp_predict, kernel_matrix, KernelKind, KernelSpec, TrainTime};

    /// Our κ < 1 GP (the one every cell of the study is compared with) against an independent
    /// computation from the κ = 1 kernels (docs/MATH.md §5, §6): K = κ² K₁ and Σ = κ² Σ₁, the
    /// discrete-time factor (Id − η K_XX/d)^t by repeated squaring, the mean A Y and the covariance
    /// Σ − AΣ_X· − Σ_·X Aᵀ + A Σ_XX Aᵀ written out here; and the ηκ² time scaling: the κ = 0.2
    /// GP after t steps of η is the κ = 1 GP after t steps of η κ², its std times κ.
    #[test]
    fn kappa_gp_matches_an_independent_computation() {
        let s = Settings::preset(Preset::Paper).kappa;
        let (kappa, t, lr) = (0.2, 20_000, s.training.lr);
        let cell = s.cell(kappa, t);
        let p = Problem::new(&cell).unwrap();
        let base = KernelSpec::from_mlp(&config(&s.cell(1.0, t), 1), s.surrogate);
        let (xt, x, y) = (&p.data.x, &p.x, &p.data.y);
        let k2 = kappa * kappa;
        let k = |kind, a: &DMatrix<f64>, b: &DMatrix<f64>| {
            kernel_matrix(&base, kind, a, b).unwrap() * k2
        };
        let (kxx, kx) = (k(KernelKind::SgNtk, xt, xt), k(KernelKind::SgNtk, x, xt));
        let (sxx, sx, ss) = (
            k(KernelKind::Nngp, xt, xt),
            k(KernelKind::Nngp, x, xt),
            k(KernelKind::Nngp, x, x),
        );
        let d = xt.nrows();
        let id = DMatrix::<f64>::identity(d, d);
        let step = &id - &kxx * (lr / d as f64);
        let (mut power, mut base_pow, mut e) = (id.clone(), step, t);
        while e > 0 {
            if e & 1 == 1 {
                power = &power * &base_pow;
            }
            base_pow = &base_pow * &base_pow;
            e >>= 1;
        }
        // A = K(x, X) K_XX⁻¹ (Id − M): solve K_XXᵀ Zᵀ = K(x, X)ᵀ.
        let z = kxx
            .transpose()
            .lu()
            .solve(&kx.transpose())
            .unwrap()
            .transpose();
        let a = z * (&id - power);
        let mean = &a * y;
        let cov = &ss - &a * sx.transpose() - &sx * a.transpose() + &a * &sxx * a.transpose();
        let gp_mean: Vec<f64> = p.gp.mean.iter().copied().collect();
        let scale = mean.abs().max();
        for (i, m) in mean.iter().enumerate() {
            assert!(
                (gp_mean[i] - m).abs() < 1e-9 * scale,
                "mean at {i}: {} vs {m}",
                gp_mean[i]
            );
        }
        let std = p.gp.std();
        let smax = std.max();
        for i in 0..x.nrows() {
            let want = cov[(i, i)].max(0.0).sqrt();
            assert!(
                (std[i] - want).abs() < 1e-6 * smax,
                "std at {i}: {} vs {want}",
                std[i]
            );
        }
        // ηκ² time scaling through the library's own GP at κ = 1
        let time = TrainTime::Finite {
            t: t as f64,
            lr: lr * k2,
            discrete: true,
        };
        let g1 = gp_predict(&base, KernelKind::SgNtk, xt, y, x, time).unwrap();
        let rel = (&g1.mean - &p.gp.mean).abs().max() / scale;
        assert!(rel < 1e-9, "mean: κ = 0.2 at η vs κ = 1 at ηκ²: {rel:e}");
        let rel_std = (g1.std() * kappa - &std).abs().max() / smax;
        assert!(rel_std < 1e-6, "std: {rel_std:e}");
        // and not trivially: after 2e4 steps the κ = 0.2 mean is still away from the κ = 1 mean
        let one = Problem::new(&s.cell(1.0, t)).unwrap();
        let apart = (&one.gp.mean - &p.gp.mean).abs().max();
        assert!(
            apart > 1e-3,
            "κ = 0.2 and κ = 1 GP means coincide ({apart})"
        );
    }
}
