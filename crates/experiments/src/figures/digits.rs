//! `sgntk figure digits` (not in the paper): does the SG-NTK predict what SGL learns on a real
//! task? Sign MLPs 64 → n → … → n → 10 are trained by SGL on the handwritten digits
//! (`sgntk_model::data::digits`: per-image standardized inputs, one-hot targets with the mean
//! removed, loss L = 1/(2d) Σ_i ‖f(x_i) − y_i‖², docs/MATH.md §3) with each surrogate σ̃, and
//! compared on the test images with the SG-NTK GP after the same number of discrete steps
//! (docs/MATH.md §6; the GP's covariance is the same for all 10 outputs, its mean is one column
//! per output), with the Σ (NNGP) regression, and with erf_m networks trained by gradient descent
//! against their NTK GP.
//!
//! Per ensemble: test accuracy (argmax over the 10 outputs) and MSE (mean over images and outputs
//! of (f − y)²) of every network and of the ensemble mean; agreement (the fraction of test
//! images where a network's class is the GP mean's); and Fig. 3a's distribution statistics
//! ([`super::distribution_stats`]) over the (test image, output) pairs.

use std::ops::Range;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sgntk_model::data::{argmax_rows, digits, DIGITS_CLASSES, DIGITS_PIXELS};
use sgntk_model::{Activation, LearningRule, MlpConfig, Surrogate, TrainConfig, TrainSet};
use sgntk_ntk::{gp_predict, GpPrediction, KernelKind, KernelSpec, TrainTime};

use super::kernels::mean_curve;
use super::plots::{line, BLACK, GREY, PALETTE};
use super::regression::{distribution_stats, ChunkOutputs, DistributionStats};
use super::{chunk_ensemble, chunks, driving_kernel, train_with_progress};
use super::{ChunkJob, Figure, FigureRun, Written};
use crate::error::ExpError;
use crate::io::{Cell, Table};
use crate::plot::{self, LegendPos, Mark, Panel, Scale, Series};
use crate::settings::DigitsFigure;
use crate::shard::training_cost;

/// `sgntk figure digits`.
pub struct Digits;

impl Figure for Digits {
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError> {
        let data = compute(&run.opts.settings.digits, run)?;
        data.map(|d| write(&d, run)).transpose()
    }
}

/// A family of networks: sign networks trained by SGL with a surrogate, or erf_m networks
/// trained by gradient descent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// φ.
    pub activation: Activation,
    /// σ̃ of the backward pass (`true`: gradient descent).
    pub surrogate: Surrogate,
}

impl Family {
    /// `sign, SGL erf-prime:1` or `erf:2, GD`.
    pub fn label(&self) -> String {
        match self.surrogate {
            Surrogate::True => format!("{}, GD", self.activation),
            s => format!("{}, SGL {s}", self.activation),
        }
    }
}

/// Accuracy and MSE of one predictor on the test images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Fraction of test images whose argmax is the true class.
    pub accuracy: f64,
    /// Mean over test images and outputs of (f − y)².
    pub mse: f64,
}

/// Mean, standard deviation (over networks) and standard error of the mean of a per-network
/// number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean over networks.
    pub mean: f64,
    /// Sample standard deviation over networks.
    pub std: f64,
    /// std/√N.
    pub sem: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let ss: f64 = v.iter().map(|x| (x - mean).powi(2)).sum();
        let std = (ss / (n - 1.0).max(1.0)).sqrt();
        Spread {
            mean,
            std,
            sem: std / n.sqrt(),
        }
    }
}

/// The kernel predictions of a family: its GP after `steps` steps and the Σ regression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelScores {
    /// The family.
    pub family: Family,
    /// The GP of the driving kernel (SG-NTK for SGL, NTK for GD) after the networks' steps.
    pub gp: Score,
    /// The Σ (NNGP) kernel regression (the GP at t = ∞ of the last layer alone).
    pub sigma_regression: Score,
    /// Median over test images of the GP's standard deviation.
    pub gp_std_median: f64,
    /// Test accuracy of samples of the GP (what the GP predicts for single networks; the
    /// spread is over `GP_SAMPLES` samples).
    pub gp_samples: Spread,
}

/// Samples drawn from each GP for [`KernelScores::gp_samples`].
pub const GP_SAMPLES: usize = 64;

/// One trained ensemble against its GP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSummary {
    /// The family.
    pub family: Family,
    /// Hidden width n.
    pub width: usize,
    /// Networks N.
    pub nets: usize,
    /// Test accuracy of the networks.
    pub accuracy: Spread,
    /// Test MSE of the networks.
    pub mse: Spread,
    /// Fraction of test images where a network's class equals the GP mean's.
    pub agreement: Spread,
    /// The ensemble mean's accuracy and MSE.
    pub ensemble_mean: Score,
    /// Fraction of test images where the ensemble mean's class equals the GP mean's.
    pub ensemble_mean_agreement: f64,
    /// Fig. 3a's statistics over the (test image, output) pairs against the GP and the Σ
    /// regression.
    pub stats: DistributionStats,
    /// The same statistics of N samples of the GP itself (the value a perfect match gives, and
    /// its sampling error).
    pub gp_reference: ReferenceStats,
    /// Mean training loss after training.
    pub final_train_loss: f64,
}

/// [`DistributionStats`] of ensembles of GP samples: mean and spread over replicates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceStats {
    /// Independent sets of N samples.
    pub replicates: usize,
    /// Coverage of the ±2σ band.
    pub coverage: Spread,
    /// Median ensemble std / GP std.
    pub std_ratio: Spread,
    /// RMS (mean − GP mean)/(σ/√N).
    pub mean_z_rms: Spread,
    /// RMS (mean − Σ regression)/(σ/√N).
    pub mean_z_rms_vs_sigma_regression: Spread,
}

/// The summary of `figure digits`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigitsSummary {
    /// How the images and targets are prepared.
    pub data: String,
    /// Training and test images.
    pub train_points: usize,
    /// Test images.
    pub test_points: usize,
    /// The kernel predictions of every family.
    pub kernels: Vec<KernelScores>,
    /// Every trained ensemble.
    pub ensembles: Vec<EnsembleSummary>,
}

/// One family's kernel predictions on the test images (10 columns; one std per image).
struct FamilyKernels {
    family: Family,
    gp: GpPrediction,
    sigma: GpPrediction,
}

/// The trained networks of one family and width: each network's outputs on the test images,
/// flattened row by row (image i, output j at i·10 + j).
struct Trained {
    family: usize,
    width: usize,
    outputs: Vec<Vec<f64>>,
    final_loss: f64,
}

/// Everything the figure reports.
struct DigitsData {
    settings: DigitsFigure,
    labels: Vec<usize>,
    y_test: DMatrix<f64>,
    kernels: Vec<FamilyKernels>,
    trained: Vec<Trained>,
}

/// Everything a chunk's numbers depend on (so a chunk is reused when only `nets`, `widths` or
/// the other families change).
#[derive(Serialize)]
struct ChunkKey<'a> {
    what: &'static str,
    train_points: usize,
    test_points: usize,
    data_seed: u64,
    steps: usize,
    training: &'a crate::settings::Training,
    family: Family,
    width: usize,
    seed: u64,
    backend: &'a str,
    members: (usize, usize),
}

/// The MLP 64 → n → … → n → 10 of `s`'s depth and scales.
fn config(s: &DigitsFigure, width: usize, activation: Activation) -> MlpConfig {
    let depth = s.training.depth;
    let mut widths = vec![DIGITS_PIXELS];
    widths.extend(std::iter::repeat_n(width, depth - 1));
    widths.push(DIGITS_CLASSES);
    MlpConfig {
        sigma_w: s.training.sigma_w,
        sigma_b: s.training.sigma_b,
        ..MlpConfig::new(widths, activation)
    }
}

fn compute(s: &DigitsFigure, run: &FigureRun) -> Result<Option<DigitsData>, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let opts = run.opts;
    let device = opts.backend.device()?;
    let all = digits().map_err(ExpError::Usage)?;
    let (train, test) = all
        .split(s.train_points, s.test_points, s.data_seed)
        .map_err(ExpError::Usage)?;
    let mut families: Vec<Family> = s
        .surrogates
        .iter()
        .map(|&surrogate| Family {
            activation: Activation::Sign,
            surrogate,
        })
        .collect();
    families.extend(s.erf_ms.iter().map(|&m| Family {
        activation: Activation::Erf { m },
        surrogate: Surrogate::True,
    }));
    let time = TrainTime::Finite {
        t: s.steps as f64,
        lr: s.training.lr,
        discrete: true,
    };
    // the groups of (family, width, networks) trained
    let mut groups: Vec<(usize, usize, usize)> = Vec::new();
    for (f, family) in families.iter().enumerate() {
        if family.surrogate == Surrogate::True {
            groups.push((f, s.erf_width, s.erf_nets));
        } else {
            groups.extend(s.widths.iter().zip(&s.nets).map(|(&w, &n)| (f, w, n)));
        }
    }
    let data = TrainSet {
        x: train.x.clone(),
        y: train.y.clone(),
    };
    let backend = opts.backend.to_string();
    let pb = run.progress_bar();
    let parts: Vec<(usize, usize, Range<usize>)> = groups
        .iter()
        .flat_map(|&(f, w, n)| chunks(n, s.chunk).into_iter().map(move |r| (f, w, r)))
        .collect();
    let values = s.test_points * DIGITS_CLASSES;
    let jobs: Vec<ChunkJob<ChunkKey<'_>, (usize, usize)>> = parts
        .iter()
        .map(|(f, width, range)| ChunkJob {
            key: ChunkKey {
                what: "digits-outputs",
                train_points: s.train_points,
                test_points: s.test_points,
                data_seed: s.data_seed,
                steps: s.steps,
                training: &s.training,
                family: families[*f],
                width: *width,
                seed: opts.seed,
                backend: &backend,
                members: (range.start, range.end),
            },
            expect: (range.len(), values),
            cost: training_cost(
                &config(s, *width, families[*f].activation).widths,
                range.len(),
                s.steps,
            ) * s.train_points as f64,
            steps: s.steps as u64,
        })
        .collect();
    let chunks_out = run.run_chunks(&jobs, &pb, |i| {
        let (f, width, range) = parts[i].clone();
        let family = families[f];
        let cfg = config(s, width, family.activation);
        let mut ens = chunk_ensemble(&cfg, opts.seed, range, &device)?;
        let rule = LearningRule::with_backward(family.surrogate);
        let tc = TrainConfig::new(rule, s.training.lr, s.steps);
        let report = train_with_progress(&mut ens, &data, &tc, &pb)?;
        let outputs = ens
            .predict(&test.x)?
            .into_iter()
            .map(|m| m.transpose().iter().copied().collect())
            .collect();
        Ok(ChunkOutputs {
            outputs,
            final_loss: *report.loss.last().expect("steps + 1 losses"),
        })
    })?;
    let Some(chunks_out) = chunks_out else {
        return Ok(None);
    };
    let mut trained: Vec<Trained> = Vec::new();
    for ((f, width, range), chunk) in parts.iter().zip(chunks_out) {
        if trained
            .last()
            .is_none_or(|t| (t.family, t.width) != (*f, *width))
        {
            trained.push(Trained {
                family: *f,
                width: *width,
                outputs: Vec::new(),
                final_loss: 0.0,
            });
        }
        let t = trained.last_mut().expect("pushed above");
        t.final_loss += chunk.final_loss * range.len() as f64;
        t.outputs.extend(chunk.outputs);
    }
    for t in &mut trained {
        t.final_loss /= t.outputs.len() as f64;
    }
    let kernels = families
        .iter()
        .map(|&family| {
            let spec = KernelSpec::from_mlp(&config(s, 1, family.activation), family.surrogate);
            let kind = driving_kernel(family.surrogate);
            let gp = gp_predict(&spec, kind, &train.x, &train.y, &test.x, time)?;
            let sigma = gp_predict(
                &spec,
                KernelKind::Nngp,
                &train.x,
                &train.y,
                &test.x,
                TrainTime::Infinite,
            )?;
            Ok(FamilyKernels { family, gp, sigma })
        })
        .collect::<Result<Vec<_>, ExpError>>()?;
    Ok(Some(DigitsData {
        settings: s.clone(),
        labels: test.labels,
        y_test: test.y,
        kernels,
        trained,
    }))
}

/// A test-set matrix (images × 10) flattened row by row.
fn flat(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().iter().copied().collect()
}

/// Back from [`flat`].
fn unflat(v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_row_slice(v.len() / DIGITS_CLASSES, DIGITS_CLASSES, v)
}

/// Accuracy and MSE of test outputs `f` (images × 10).
fn score(f: &DMatrix<f64>, y: &DMatrix<f64>, labels: &[usize]) -> Score {
    let hits = argmax_rows(f)
        .iter()
        .zip(labels)
        .filter(|(a, b)| a == b)
        .count();
    Score {
        accuracy: hits as f64 / labels.len() as f64,
        mse: (f - y).norm_squared() / f.len() as f64,
    }
}

/// Seeded samples μ + R Z of a GP (R: [`GpPrediction::cov_root`], Z standard normal, one column
/// per output), each flattened as the networks' outputs are.
struct GpSampler<'a> {
    gp: &'a GpPrediction,
    root: DMatrix<f64>,
    rng: rand_chacha::ChaCha8Rng,
}

impl<'a> GpSampler<'a> {
    fn new(gp: &'a GpPrediction, seed: u64) -> Self {
        use rand::SeedableRng;
        GpSampler {
            gp,
            root: gp.cov_root(),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn draw(&mut self) -> DMatrix<f64> {
        use rand_distr::{Distribution, StandardNormal};
        let (rows, cols) = self.gp.mean.shape();
        let rng = &mut self.rng;
        let z = DMatrix::from_fn(rows, cols, |_, _| StandardNormal.sample(rng));
        &self.gp.mean + &self.root * z
    }
}

/// Fig. 3a's statistics of `nets` samples of the GP itself, over `replicates` independent sets:
/// what an ensemble of N networks distributed exactly as the GP gives (the median of N sample
/// standard deviations lies below σ for small N; the spread is the sampling error).
fn gp_reference(
    sampler: &mut GpSampler,
    nets: usize,
    replicates: usize,
    sigma_regression: &[f64],
) -> ReferenceStats {
    let gp_mean = flat(&sampler.gp.mean);
    let std: Vec<f64> = sampler
        .gp
        .std()
        .iter()
        .flat_map(|s| std::iter::repeat_n(*s, DIGITS_CLASSES))
        .collect();
    let idx: Vec<usize> = (0..gp_mean.len()).collect();
    let stats: Vec<DistributionStats> = (0..replicates)
        .map(|_| {
            let draws: Vec<Vec<f64>> = (0..nets).map(|_| flat(&sampler.draw())).collect();
            let mean = mean_curve(&draws);
            distribution_stats(&draws, &mean, &gp_mean, &std, sigma_regression, &idx)
        })
        .collect();
    let of =
        |f: fn(&DistributionStats) -> f64| Spread::of(&stats.iter().map(f).collect::<Vec<_>>());
    ReferenceStats {
        replicates,
        coverage: of(|s| s.coverage),
        std_ratio: of(|s| s.std_ratio),
        mean_z_rms: of(|s| s.mean_z_rms),
        mean_z_rms_vs_sigma_regression: of(|s| s.mean_z_rms_vs_sigma_regression),
    }
}

/// Sets of GP samples behind [`EnsembleSummary::gp_reference`].
pub const REFERENCE_REPLICATES: usize = 20;

/// Fraction of rows where `a` and `b` pick the same class.
fn agreement(a: &[usize], b: &[usize]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
}

fn summarize(d: &DigitsData, seed: u64) -> DigitsSummary {
    let (y, labels) = (&d.y_test, &d.labels);
    let mut samplers: Vec<GpSampler> = d
        .kernels
        .iter()
        .enumerate()
        .map(|(f, k)| GpSampler::new(&k.gp, seed.wrapping_add(f as u64)))
        .collect();
    let kernels = d
        .kernels
        .iter()
        .zip(&mut samplers)
        .map(|(k, sampler)| {
            let accuracies: Vec<f64> = (0..GP_SAMPLES)
                .map(|_| score(&sampler.draw(), y, labels).accuracy)
                .collect();
            let mut std: Vec<f64> = k.gp.std().iter().copied().collect();
            std.sort_by(f64::total_cmp);
            KernelScores {
                family: k.family,
                gp: score(&k.gp.mean, y, labels),
                sigma_regression: score(&k.sigma.mean, y, labels),
                gp_std_median: std[std.len() / 2],
                gp_samples: Spread::of(&accuracies),
            }
        })
        .collect();
    let ensembles = d
        .trained
        .iter()
        .map(|t| {
            let k = &d.kernels[t.family];
            let gp_class = argmax_rows(&k.gp.mean);
            let nets: Vec<DMatrix<f64>> = t.outputs.iter().map(|o| unflat(o)).collect();
            let scores: Vec<Score> = nets.iter().map(|f| score(f, y, labels)).collect();
            let agree: Vec<f64> = nets
                .iter()
                .map(|f| agreement(&argmax_rows(f), &gp_class))
                .collect();
            let mean = mean_curve(&t.outputs);
            let mean_m = unflat(&mean);
            // every output of an image has the image's GP std
            let std: Vec<f64> =
                k.gp.std()
                    .iter()
                    .flat_map(|s| std::iter::repeat_n(*s, DIGITS_CLASSES))
                    .collect();
            let idx: Vec<usize> = (0..mean.len()).collect();
            let stats = distribution_stats(
                &t.outputs,
                &mean,
                &flat(&k.gp.mean),
                &std,
                &flat(&k.sigma.mean),
                &idx,
            );
            EnsembleSummary {
                family: k.family,
                width: t.width,
                nets: t.outputs.len(),
                accuracy: Spread::of(&scores.iter().map(|s| s.accuracy).collect::<Vec<_>>()),
                mse: Spread::of(&scores.iter().map(|s| s.mse).collect::<Vec<_>>()),
                agreement: Spread::of(&agree),
                ensemble_mean: score(&mean_m, y, labels),
                ensemble_mean_agreement: agreement(&argmax_rows(&mean_m), &gp_class),
                gp_reference: gp_reference(
                    &mut samplers[t.family],
                    t.outputs.len(),
                    REFERENCE_REPLICATES,
                    &flat(&k.sigma.mean),
                ),
                stats,
                final_train_loss: t.final_loss,
            }
        })
        .collect();
    DigitsSummary {
        data: "UCI handwritten digits (scikit-learn load_digits); inputs standardized per image (mean 0, |x|^2 = 64); targets one-hot minus 0.1 (0.9 / -0.1); seeded stratified split".into(),
        train_points: d.settings.train_points,
        test_points: d.settings.test_points,
        kernels,
        ensembles,
    }
}

fn write(d: &DigitsData, run: &FigureRun) -> Result<Written, ExpError> {
    let summary = summarize(d, run.opts.seed);
    let mut table = Table::new(&[
        "predictor",
        "family",
        "width",
        "net",
        "accuracy",
        "mse",
        "agreement",
    ]);
    for k in &summary.kernels {
        let family = k.family.label();
        for (name, sc) in [("gp", &k.gp), ("sigma_regression", &k.sigma_regression)] {
            table.push(&[
                Cell::Text(name),
                Cell::Text(&family),
                Cell::Empty,
                Cell::Empty,
                Cell::Num(sc.accuracy),
                Cell::Num(sc.mse),
                Cell::Empty,
            ]);
        }
    }
    for (t, e) in d.trained.iter().zip(&summary.ensembles) {
        let k = &d.kernels[t.family];
        let family = k.family.label();
        let gp_class = argmax_rows(&k.gp.mean);
        for (n, o) in t.outputs.iter().enumerate() {
            let f = unflat(o);
            let sc = score(&f, &d.y_test, &d.labels);
            table.push(&[
                Cell::Text("network"),
                Cell::Text(&family),
                Cell::Int(t.width),
                Cell::Int(n),
                Cell::Num(sc.accuracy),
                Cell::Num(sc.mse),
                Cell::Num(agreement(&argmax_rows(&f), &gp_class)),
            ]);
        }
        table.push(&[
            Cell::Text("ensemble_mean"),
            Cell::Text(&family),
            Cell::Int(t.width),
            Cell::Empty,
            Cell::Num(e.ensemble_mean.accuracy),
            Cell::Num(e.ensemble_mean.mse),
            Cell::Num(e.ensemble_mean_agreement),
        ]);
    }
    run.write(&table, &figure(d, &summary), &summary)
}

/// Four panels against the hidden width (log axis): test accuracy (networks as dots, ensemble
/// means as lines, the GP and Σ regression as horizontal lines), agreement with the GP mean's
/// class, coverage of the GP's ±2σ band with std_ratio, and mean_z_rms vs the GP and the Σ
/// regression.
fn figure(d: &DigitsData, summary: &DigitsSummary) -> plot::Figure {
    let s = &d.settings;
    let mut xs: Vec<f64> = s.widths.iter().map(|&w| w as f64).collect();
    if !s.erf_ms.is_empty() {
        xs.push(s.erf_width as f64);
    }
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let span = [lo / 1.3, hi * 1.3];
    let log_panel = |title: &str, y: &str| {
        let mut p = Panel::new(title, "hidden width n", y);
        p.x.scale = Scale::Log10;
        p.legend = Some(LegendPos::LowerRight);
        p
    };
    let mut acc = log_panel("test accuracy", "accuracy (argmax of 10 outputs)");
    let mut agree = log_panel(
        "agreement with the GP mean's class",
        "fraction of test images",
    );
    let mut cover = log_panel(
        "networks in the GP's ±2σ band; their spread",
        "coverage; std ratio ÷ that of N GP samples",
    );
    let mut zs = log_panel(
        "ensemble mean − GP mean, in units of σ/√N",
        "mean_z_rms (1: sampling error)",
    );
    zs.y.scale = Scale::Log10;
    for (f, k) in summary.kernels.iter().enumerate() {
        let color = PALETTE[f % PALETTE.len()];
        let label = k.family.label();
        let ens: Vec<&EnsembleSummary> = summary
            .ensembles
            .iter()
            .filter(|e| e.family == k.family)
            .collect();
        let widths: Vec<f64> = ens.iter().map(|e| e.width as f64).collect();
        // the networks as dots
        let (mut nx, mut ny, mut ax, mut ay) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in d.trained.iter().filter(|t| t.family == f) {
            let gp_class = argmax_rows(&d.kernels[f].gp.mean);
            for o in &t.outputs {
                let m = unflat(o);
                nx.push(t.width as f64);
                ny.push(score(&m, &d.y_test, &d.labels).accuracy);
                ax.push(t.width as f64);
                ay.push(agreement(&argmax_rows(&m), &gp_class));
            }
        }
        let dots = |x: &[f64], y: &[f64]| Series::line(None, x, y, color, 0.45).mark(Mark::Dots(3));
        acc.series.push(dots(&nx, &ny));
        agree.series.push(dots(&ax, &ay));
        let means: Vec<f64> = ens.iter().map(|e| e.ensemble_mean.accuracy).collect();
        let kind = if k.family.surrogate == Surrogate::True {
            "NTK"
        } else {
            "SG-NTK"
        };
        if widths.len() > 1 {
            acc.series.push(line(
                &format!("{label}: ensemble mean"),
                &widths,
                &means,
                color,
                Mark::Line(2),
            ));
        } else {
            acc.series.push(line(
                &format!("{label}: ensemble mean"),
                &widths,
                &means,
                color,
                Mark::Crosses(6),
            ));
        }
        let flat_line = |v: f64| [v, v];
        let samples = k.gp_samples.mean;
        acc.series.push(line(
            &format!("{label}: {kind} GP samples"),
            &span,
            &flat_line(samples),
            color,
            Mark::Line(1),
        ));
        acc.series.push(line(
            &format!("{label}: {kind} GP mean"),
            &span,
            &flat_line(k.gp.accuracy),
            color,
            Mark::Dashed(2),
        ));
        let agree_mean: Vec<f64> = ens.iter().map(|e| e.agreement.mean).collect();
        let mark = if widths.len() > 1 {
            Mark::Line(2)
        } else {
            Mark::Crosses(6)
        };
        agree
            .series
            .push(line(&label, &widths, &agree_mean, color, mark));
        let coverage: Vec<f64> = ens.iter().map(|e| e.stats.coverage).collect();
        // std_ratio over that of N samples of the GP (whose median sample std lies below σ for
        // small N): 1 when the networks spread as the GP says
        let ratio: Vec<f64> = ens
            .iter()
            .map(|e| e.stats.std_ratio / e.gp_reference.std_ratio.mean)
            .collect();
        cover.series.push(line(
            &format!("{label}: coverage"),
            &widths,
            &coverage,
            color,
            mark,
        ));
        let dashed = if widths.len() > 1 {
            Mark::Dashed(2)
        } else {
            Mark::Dots(5)
        };
        cover.series.push(line(
            &format!("{label}: std ratio ÷ GP samples'"),
            &widths,
            &ratio,
            color,
            dashed,
        ));
        let z: Vec<f64> = ens.iter().map(|e| e.stats.mean_z_rms).collect();
        let zs_sigma: Vec<f64> = ens
            .iter()
            .map(|e| e.stats.mean_z_rms_vs_sigma_regression)
            .collect();
        zs.series.push(line(
            &format!("{label}: vs {kind} GP"),
            &widths,
            &z,
            color,
            mark,
        ));
        zs.series.push(line(
            &format!("{label}: vs Σ regression"),
            &widths,
            &zs_sigma,
            color,
            dashed,
        ));
    }
    // the Σ regression of the sign networks (it does not depend on the surrogate)
    if let Some(k) = summary
        .kernels
        .iter()
        .find(|k| k.family.activation == Activation::Sign)
    {
        let v = k.sigma_regression.accuracy;
        acc.series.push(line(
            "sign: Σ regression",
            &span,
            &[v, v],
            GREY,
            Mark::Dashed(1),
        ));
    }
    cover.series.push(line(
        "0.95 and 1",
        &span,
        &[0.95, 0.95],
        BLACK,
        Mark::Dashed(1),
    ));
    cover
        .series
        .push(Series::line(None, &span, &[1.0, 1.0], BLACK, 1.0).mark(Mark::Dashed(1)));
    zs.series.push(line(
        "1 (sampling error)",
        &span,
        &[1.0, 1.0],
        BLACK,
        Mark::Dashed(1),
    ));
    let title = format!(
        "digits: {} training / {} test images, t = {} steps of η = {}",
        s.train_points, s.test_points, s.steps, s.training.lr
    );
    plot::Figure::new(Some(title), (2, 2), (760, 520), vec![acc, agree, cover, zs])
}
