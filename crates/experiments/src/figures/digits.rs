//! `sgntk figure digits` (not in the paper): does the SG-NTK predict what SGL learns on a real
//! task? Sign MLPs 64 → n → … → n → 10 are trained by SGL on the handwritten digits
//! (`sgntk_model::data::digits`: per-image standardized inputs, one-hot targets with the mean
//! removed, loss L = 1/(2d) Σ_i ‖f(x_i) − y_i‖², docs/MATH.md §3) with each surrogate σ̃, and
//! compared on the test images with the SG-NTK GP after the same number of discrete steps
//! (docs/MATH.md §6; the GP's covariance is the same for all 10 outputs, its mean is one column
//! per output), with the Σ (NNGP) regression, and with erf_m networks trained by gradient descent
//! against their NTK GP.
//!
//! Sign CNNs (`cnn_channels`, [`crate::settings::DigitsFigure::cnn_spec`]: two 3 × 3 "same"
//! convolutions with C channels, sign after each, flatten, dense(10)) are trained the same way,
//! one network at a time through burn's autodiff ([`train_flat`]), and compared with the SG-NTK
//! GP of the CNN at infinitely many channels (the convolutional kernel maps of
//! `sgntk_ntk::analytic::conv`, docs/MATH.md §5 over positions) — the first comparison of SGL
//! CNNs with their SG-NTK.
//!
//! Per ensemble: test accuracy (argmax over the 10 outputs) and MSE (mean over images and outputs
//! of (f − y)²) of every network and of the ensemble mean; agreement (the fraction of test
//! images where a network's class is the GP mean's); and Fig. 3a's distribution statistics
//! ([`super::distribution_stats`]) over the (test image, output) pairs.

use std::ops::Range;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sgntk_model::data::{argmax_rows, digits, DIGITS_CLASSES, DIGITS_PIXELS};
use sgntk_model::{
    train_flat_reporting, Activation, FlatNet, LearningRule, MlpConfig, ModelError, NetSpec,
    Surrogate, TrainConfig, TrainSet,
};
use sgntk_ntk::{gp_predict, GpPrediction, KernelKind, KernelSpec, Kernels, Method, TrainTime};

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

/// The architecture of a family: the MLP 64 → n → … → n → 10 or the CNN of
/// [`crate::settings::DigitsFigure::cnn_spec`] (its size: the width n or the channels C).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Dense layers of width n.
    #[default]
    Mlp,
    /// Two convolutions with C channels, flatten, dense(10).
    Cnn,
}

/// A family of networks: sign MLPs or CNNs trained by SGL with a surrogate, or erf_m MLPs
/// trained by gradient descent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// MLP or CNN.
    #[serde(default)]
    pub arch: Arch,
    /// φ.
    pub activation: Activation,
    /// σ̃ of the backward pass (`true`: gradient descent).
    pub surrogate: Surrogate,
}

impl Family {
    /// `sign, SGL erf-prime:1`, `sign CNN, SGL erf-prime:1` or `erf:2, GD`.
    pub fn label(&self) -> String {
        let net = match self.arch {
            Arch::Mlp => self.activation.to_string(),
            Arch::Cnn => format!("{} CNN", self.activation),
        };
        match self.surrogate {
            Surrogate::True => format!("{net}, GD"),
            s => format!("{net}, SGL {s}"),
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
    /// Hidden width n (MLPs) or channels C (CNNs).
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

/// The trained networks of one family and width (channels for CNNs): each network's outputs on
/// the test images,
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

/// Multiply–adds of one forward pass on one image: the parameters of an MLP, Σ over layers of
/// positions × weights for the CNN (for balancing shards and chunks).
fn forward_cost(s: &DigitsFigure, family: Family, width: usize) -> f64 {
    match family.arch {
        Arch::Mlp => training_cost(&config(s, width, family.activation).widths, 1, 1),
        Arch::Cnn => {
            let positions = DIGITS_PIXELS as f64;
            let c = width as f64;
            positions * (9.0 * c + 9.0 * c * c) + positions * c * DIGITS_CLASSES as f64
        }
    }
}

/// Trains the networks `init(k)`, k ∈ `range`, one after another (burn's autodiff) with `tc`
/// and returns their test outputs and mean final training loss.
fn train_one_by_one(
    init: impl Fn(usize) -> Result<FlatNet<NetSpec>, ModelError>,
    tc: &TrainConfig,
    range: Range<usize>,
    data: &TrainSet,
    x_test: &DMatrix<f64>,
    pb: &indicatif::ProgressBar,
) -> Result<ChunkOutputs, ExpError> {
    let (mut outputs, mut loss) = (Vec::new(), 0.0);
    let members = range.len() as f64;
    for k in range {
        let mut net = init(k)?;
        let mut progress = crate::progress::observer(pb, || false);
        let report =
            train_flat_reporting(&mut net, data, tc, &[], |_, _| Ok(()), Some(&mut progress))?;
        loss += report.loss.last().expect("steps + 1 losses") / members;
        outputs.push(flat(&net.predict(x_test)?));
    }
    Ok(ChunkOutputs {
        outputs,
        final_loss: loss,
    })
}

fn compute(s: &DigitsFigure, run: &FigureRun) -> Result<Option<DigitsData>, ExpError> {
    s.validate().map_err(ExpError::Usage)?;
    let opts = run.opts;
    let device = opts.backend.device()?;
    let all = digits().map_err(ExpError::Usage)?;
    let (train, test) = all
        .split(s.train_points, s.test_points, s.data_seed)
        .map_err(ExpError::Usage)?;
    let sign = |arch| {
        s.surrogates.iter().map(move |&surrogate| Family {
            arch,
            activation: Activation::Sign,
            surrogate,
        })
    };
    let mut families: Vec<Family> = sign(Arch::Mlp).collect();
    if !s.cnn_channels.is_empty() {
        families.extend(sign(Arch::Cnn));
    }
    families.extend(s.erf_ms.iter().map(|&m| Family {
        arch: Arch::Mlp,
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
        let (sizes, nets) = match (family.arch, family.surrogate) {
            (Arch::Mlp, Surrogate::True) => (&[s.erf_width][..], &[s.erf_nets][..]),
            (Arch::Mlp, _) => (&s.widths[..], &s.nets[..]),
            (Arch::Cnn, _) => (&s.cnn_channels[..], &s.cnn_nets[..]),
        };
        groups.extend(sizes.iter().zip(nets).map(|(&w, &n)| (f, w, n)));
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
            cost: forward_cost(s, families[*f], *width)
                * (range.len() * s.steps * s.train_points) as f64,
            // CNNs train one network after another, each reporting its steps
            steps: match families[*f].arch {
                Arch::Mlp => s.steps,
                Arch::Cnn => s.steps * range.len(),
            } as u64,
        })
        .collect();
    let chunks_out = run.run_chunks(&jobs, &pb, |i| {
        let (f, width, range) = parts[i].clone();
        let family = families[f];
        let rule = LearningRule::with_backward(family.surrogate);
        let tc = TrainConfig::new(rule, s.training.lr, s.steps);
        if family.arch == Arch::Cnn {
            let spec = s.cnn_spec(family.activation, width);
            let init = |k| spec.init(opts.seed, k, &device);
            return train_one_by_one(init, &tc, range, &data, &test.x, &pb);
        }
        let cfg = config(s, width, family.activation);
        let mut ens = chunk_ensemble(&cfg, opts.seed, range, &device)?;
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
            let mlp = KernelSpec::from_mlp(&config(s, 1, family.activation), family.surrogate);
            let cnn = s.cnn_spec(family.activation, 1);
            let spec = match family.arch {
                Arch::Mlp => Kernels::Mlp(&mlp),
                Arch::Cnn => Kernels::Spec {
                    spec: &cnn,
                    surrogate: family.surrogate,
                    method: Method::Auto,
                },
            };
            let kind = driving_kernel(family.surrogate);
            let gp = gp_predict(spec, kind, &train.x, &train.y, &test.x, time)?;
            let sigma = gp_predict(
                spec,
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

/// Four panels per architecture (a row of MLPs, then a row of CNNs when there are any) against
/// the hidden width or the channels (log axis): test accuracy (networks as dots, ensemble means
/// as lines, the GP and Σ regression as horizontal lines), agreement with the GP mean's class,
/// coverage of the GP's ±2σ band with std_ratio, and mean_z_rms vs the GP and the Σ regression.
fn figure(d: &DigitsData, summary: &DigitsSummary) -> plot::Figure {
    let s = &d.settings;
    let mut all = arch_panels(d, summary, Arch::Mlp);
    if !s.cnn_channels.is_empty() {
        all.extend(arch_panels(d, summary, Arch::Cnn));
    }
    let title = format!(
        "digits: {} training / {} test images, t = {} steps of η = {}",
        s.train_points, s.test_points, s.steps, s.training.lr
    );
    let rows = all.len() / 2;
    plot::Figure::new(Some(title), (rows, 2), (760, 520), all)
}

/// The four panels of the families of one architecture.
fn arch_panels(d: &DigitsData, summary: &DigitsSummary, arch: Arch) -> Vec<Panel> {
    let s = &d.settings;
    let mut xs: Vec<f64> = match arch {
        Arch::Mlp => s.widths.iter().map(|&w| w as f64).collect(),
        Arch::Cnn => s.cnn_channels.iter().map(|&c| c as f64).collect(),
    };
    if arch == Arch::Mlp && !s.erf_ms.is_empty() {
        xs.push(s.erf_width as f64);
    }
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let span = [lo / 1.3, hi * 1.3];
    let (x_label, prefix) = match arch {
        Arch::Mlp => ("hidden width n", "MLPs"),
        Arch::Cnn => ("channels C", "sign CNNs"),
    };
    let log_panel = |title: &str, y: &str| {
        let mut p = Panel::new(format!("{prefix}: {title}"), x_label, y);
        p.x.scale = Scale::Log10;
        p.legend = Some(LegendPos::LowerRight);
        p
    };
    let mut acc = log_panel(
        "test accuracy (dots: single networks)",
        "accuracy (argmax of 10 outputs)",
    );
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
    let families = summary
        .kernels
        .iter()
        .enumerate()
        .filter(|(_, k)| k.family.arch == arch);
    // one color per family, the same surrogate in the same color in every row
    for (color, (f, k)) in PALETTE.iter().cycle().zip(families) {
        let color = *color;
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
        // a line over the widths, crosses for one width
        let (solid, dashed) = if widths.len() > 1 {
            (Mark::Line(2), Mark::Dashed(2))
        } else {
            (Mark::Crosses(6), Mark::Dots(5))
        };
        let unlabelled =
            |x: &[f64], y: &[f64], mark| Series::line(None, x, y, color, 1.0).mark(mark);
        let means: Vec<f64> = ens.iter().map(|e| e.ensemble_mean.accuracy).collect();
        acc.series.push(line(&label, &widths, &means, color, solid));
        let flat_line = |v: f64| [v, v];
        acc.series.push(unlabelled(
            &span,
            &flat_line(k.gp_samples.mean),
            Mark::Line(1),
        ));
        acc.series.push(unlabelled(
            &span,
            &flat_line(k.gp.accuracy),
            Mark::Dashed(2),
        ));
        let agree_mean: Vec<f64> = ens.iter().map(|e| e.agreement.mean).collect();
        agree
            .series
            .push(line(&label, &widths, &agree_mean, color, solid));
        let coverage: Vec<f64> = ens.iter().map(|e| e.stats.coverage).collect();
        // std_ratio over that of N samples of the GP (whose median sample std lies below σ for
        // small N): 1 when the networks spread as the GP says
        let ratio: Vec<f64> = ens
            .iter()
            .map(|e| e.stats.std_ratio / e.gp_reference.std_ratio.mean)
            .collect();
        cover
            .series
            .push(line(&label, &widths, &coverage, color, solid));
        cover.series.push(unlabelled(&widths, &ratio, dashed));
        let z: Vec<f64> = ens.iter().map(|e| e.stats.mean_z_rms).collect();
        let zs_sigma: Vec<f64> = ens
            .iter()
            .map(|e| e.stats.mean_z_rms_vs_sigma_regression)
            .collect();
        zs.series.push(line(&label, &widths, &z, color, solid));
        zs.series.push(unlabelled(&widths, &zs_sigma, dashed));
    }
    // the Σ regression of the sign networks (it does not depend on the surrogate)
    if let Some(k) = summary
        .kernels
        .iter()
        .find(|k| k.family.activation == Activation::Sign && k.family.arch == arch)
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
    // the meaning of the line styles, once per panel
    let at = [span[0]];
    let key = |label: &str, y: f64, mark| line(label, &at, &[y], BLACK, mark);
    acc.series.extend([
        key("solid: ensemble mean", 0.5, Mark::Line(2)),
        key("dashed: (SG-)NTK GP mean", 0.5, Mark::Dashed(2)),
        key("thin: single GP samples", 0.5, Mark::Line(1)),
    ]);
    cover.series.extend([
        key("solid: coverage (0.95: GP's)", 1.0, Mark::Line(2)),
        key("dashed: std ratio ÷ GP samples'", 1.0, Mark::Dashed(2)),
    ]);
    zs.series.extend([
        key("solid: vs (SG-)NTK GP", 1.0, Mark::Line(2)),
        key("dashed: vs Σ regression", 1.0, Mark::Dashed(2)),
    ]);
    for (y, p) in [(0.95, &mut cover), (1.0, &mut zs)] {
        p.series
            .push(Series::line(None, &span, &[y, y], BLACK, 1.0).mark(Mark::Dashed(1)));
    }
    cover
        .series
        .push(Series::line(None, &span, &[1.0, 1.0], BLACK, 1.0).mark(Mark::Dashed(1)));
    vec![acc, agree, cover, zs]
}
