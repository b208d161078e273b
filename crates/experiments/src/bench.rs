//! `sgntk bench`: throughput of the hot paths (not a test; never asserts timings).
//!
//! For every width: one full-batch training step (GD and SGL) of a single network and of an
//! ensemble, with its GFLOP/s next to the GFLOP/s burn's matmul reaches on exactly the matmul shapes
//! of that step (the floor a step cannot beat); the structured empirical kernel (and, once, the
//! generic per-sample-Jacobian path for comparison); the analytic kernel matrix.
//!
//! Each case with counted FLOPs also states its fraction of this machine's f32 FMA peak, measured
//! at the start on one thread and on all threads ([`Peak`]). The count is the plain step's, so for
//! the lowrank engine (which skips work on sign units that did not flip) the fraction is an
//! effective one and can exceed 1.
//!
//! FLOPs of one step of E networks on d inputs (widths n_0 … n_L): forward Σ_l 2 d n_{l−1} n_l,
//! backward vectors Σ_{l≥2} 2 d n_{l−1} n_l, weight gradients Σ_l 2 d n_{l−1} n_l, times E.

use std::time::Instant;

use serde::Serialize;
use sgntk_model::burn::tensor::{Device, Tensor, TensorData};
use sgntk_model::data::{circle_points, targets, test_grid, uniform_angles};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    train, Activation, BackendKind, Engine, Ensemble, LearningRule, Mlp, MlpConfig, Surrogate,
    TrainConfig, TrainSet,
};
use sgntk_ntk::empirical::{ensemble_kernels, jacobian_kernel, DerivativePair};
use sgntk_ntk::{kernel_matrix, KernelKind, KernelSpec};

use crate::error::ExpError;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Hidden widths n (depth 3: 2 → n → n → 1).
    pub widths: Vec<usize>,
    /// Ensemble sizes E (1 = a single network).
    pub nets: Vec<usize>,
    /// Timed training steps per case.
    pub steps: usize,
    /// Untimed training steps before them (at least 1).
    pub warmup: usize,
    /// Backend.
    pub backend: BackendKind,
    /// Engines of the training steps (each timed on every case).
    pub engines: Vec<Engine>,
    /// Also time the generic per-sample-Jacobian kernel at this width (slow).
    pub generic_width: Option<usize>,
    /// Time only the analytic kernel matrices.
    pub analytic_only: bool,
    /// Points of the analytic kernel matrices (0: none).
    pub kernel_points: usize,
    /// Timings of each closed-form analytic kernel matrix (the best is reported).
    pub kernel_reps: usize,
}

/// One measured case.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// What was timed.
    pub case: String,
    /// Hidden width.
    pub width: usize,
    /// Networks.
    pub nets: usize,
    /// Milliseconds per operation (per training step, per kernel matrix).
    pub ms: f64,
    /// Achieved GFLOP/s (None where FLOPs are not counted).
    pub gflops: Option<f64>,
    /// GFLOP/s of burn's matmul on the same shapes in the same run.
    pub matmul_gflops: Option<f64>,
    /// Lowrank engine: hidden units whose sign changed, per network and step (timed steps).
    pub changed_units_per_step: Option<f64>,
    /// `gflops` as a fraction of this machine's measured FMA peak ([`Peak`]) on one thread and
    /// on all of the pool's threads.
    pub peak_fraction: Option<(f64, f64)>,
}

/// This machine's measured f32 FMA peak ([`sgntk_model::fused::fma_peak_gflops`]) on the
/// instruction set the fused engine uses.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Peak {
    /// GFLOP/s on one thread.
    pub one_thread: f64,
    /// GFLOP/s on all `threads` at once.
    pub all_threads: f64,
    /// rayon's pool size (the threads an ensemble step uses).
    pub threads: usize,
}

impl Peak {
    /// Measures it (about a second).
    pub fn measure() -> Peak {
        use sgntk_model::fused::{fma_peak_gflops, Isa};
        let threads = rayon::current_num_threads();
        Peak {
            one_thread: fma_peak_gflops(Isa::detect(), 1),
            all_threads: fma_peak_gflops(Isa::detect(), threads),
            threads,
        }
    }
}

fn step_flops(widths: &[usize], d: usize, e: usize) -> f64 {
    let per: f64 = widths
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let mm = 2.0 * (d * w[0] * w[1]) as f64;
            if l == 0 {
                2.0 * mm
            } else {
                3.0 * mm
            }
        })
        .sum();
    per * e as f64
}

/// A deterministic `shape` tensor on the device's inner (non-autodiff) backend.
fn host_tensor(shape: [usize; 3], device: &Device) -> Tensor<3> {
    let n = shape.iter().product::<usize>();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::<3>::from_data(TensorData::new(v, shape), device).inner()
}

/// Seconds per call of `f` (one warm-up call, then `reps` timed calls).
fn time_it(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps.max(1) as f64
}

/// The shortest of `reps` timed runs of `f` after one untimed run, in seconds.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Seconds of the matmuls alone of one training step (forward, backward vectors, weight
/// gradients) of E networks with these widths on d inputs.
fn matmul_seconds(widths: &[usize], d: usize, e: usize, reps: usize, device: &Device) -> f64 {
    let mut total = 0.0;
    for (l, w) in widths.windows(2).enumerate() {
        let (n_in, n_out) = (w[0], w[1]);
        let a = host_tensor([e, d, n_in], device);
        let wt = host_tensor([e, n_in, n_out], device);
        let delta = host_tensor([e, d, n_out], device);
        let wo = host_tensor([e, n_out, n_in], device);
        let at = host_tensor([e, n_in, d], device);
        // forward A Wᵀ, weight gradient Aᵀ δ, backward δ W (not for the first layer)
        total += time_it(reps, || {
            let _ = a.clone().matmul(wt.clone()).into_data();
        });
        total += time_it(reps, || {
            let _ = at.clone().matmul(delta.clone()).into_data();
        });
        if l > 0 {
            total += time_it(reps, || {
                let _ = delta.clone().matmul(wo.clone()).into_data();
            });
        }
    }
    total
}

fn train_set() -> TrainSet {
    let x = circle_points(&uniform_angles(15, sgntk_model::data::DEFAULT_DATA_SEED));
    TrainSet { y: targets(&x), x }
}

/// Most timed steps per case: a benchmark is a sample, not a training run.
pub const MAX_STEPS: usize = 100_000;

/// Bytes per parameter and network in a training case: the ensemble
/// ([`sgntk_model::mlp::BYTES_PER_PARAMETER`]) plus the two weight-sized f32 operands of the
/// reference matmuls.
const BENCH_BYTES_PER_PARAMETER: u64 = sgntk_model::mlp::BYTES_PER_PARAMETER + 8;

impl BenchOptions {
    /// Checks the sizes before anything is allocated or timed: steps in 1..=[`MAX_STEPS`], warm-up
    /// steps ≤ [`MAX_STEPS`], and
    /// every (width, nets) case and the kernel ensembles (10 networks) fit into memory.
    pub fn validate(&self) -> Result<(), ExpError> {
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(ExpError::Usage(format!(
                "--steps must be between 1 and {MAX_STEPS} (timed steps per case), got {}",
                self.steps
            )));
        }
        if self.warmup > MAX_STEPS {
            return Err(ExpError::Usage(format!(
                "--warmup must be at most {MAX_STEPS} (untimed steps per case), got {}",
                self.warmup
            )));
        }
        for &width in &self.widths {
            let params = sgntk_model::limits::mlp_parameters(2, width, 3, 1).unwrap_or(u64::MAX);
            for &e in self.nets.iter().chain([&10]) {
                sgntk_model::check_memory(
                    &format!("bench case width {width}, {e} networks"),
                    &[
                        ("networks", e as u64),
                        ("parameters", params),
                        ("bytes each", BENCH_BYTES_PER_PARAMETER),
                    ],
                )
                .map_err(sgntk_model::ModelError::from)?;
            }
        }
        Ok(())
    }
}

/// Runs the benchmark, printing one line per case as it goes.
pub fn run(o: &BenchOptions) -> Result<Vec<BenchRow>, ExpError> {
    o.validate()?;
    let device = o.backend.device()?;
    let data = train_set();
    let d = data.x.nrows();
    let mut rows = Vec::new();
    let peak = Peak::measure();
    println!(
        "FMA peak (f32, {:?}): {:.1} GFLOP/s on 1 thread, {:.1} GFLOP/s on {} threads",
        sgntk_model::fused::Isa::detect(),
        peak.one_thread,
        peak.all_threads,
        peak.threads
    );
    let mut emit = |mut r: BenchRow| {
        r.peak_fraction = r
            .gflops
            .map(|g| (g / peak.one_thread, g / peak.all_threads));
        println!(
            "{:<34} n={:<5} E={:<4} {:>10.3} ms {:>8} GFLOP/s   matmul {:>8} GFLOP/s{}",
            r.case,
            r.width,
            r.nets,
            r.ms,
            r.gflops.map_or("-".into(), |g| format!("{g:.1}")),
            r.matmul_gflops.map_or("-".into(), |g| format!("{g:.1}")),
            r.peak_fraction.map_or(String::new(), |(one, all)| format!(
                "   peak {:.1} % (1 thread) {:.1} % (all)",
                100.0 * one,
                100.0 * all
            )),
        );
        if let Some(c) = r.changed_units_per_step {
            println!("{:<34} changed units per network and step: {c:.1}", "");
        }
        rows.push(r);
    };
    let widths: &[usize] = if o.analytic_only { &[] } else { &o.widths };
    for &width in widths {
        for &e in &o.nets {
            let widths = vec![2, width, width, 1];
            let flops = step_flops(&widths, d, e);
            let mm = matmul_seconds(&widths, d, e, o.steps.max(3), &device);
            for (engine, (name, rule, act)) in o.engines.iter().flat_map(|&engine| {
                [
                    (
                        "train step GD (erf:2)",
                        LearningRule::Gd,
                        Activation::Erf { m: 2.0 },
                    ),
                    (
                        "train step SGL (sign, erf')",
                        LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }),
                        Activation::Sign,
                    ),
                ]
                .map(|case| (engine, case))
            }) {
                let config = MlpConfig::new(widths.clone(), act);
                let mut ens = Ensemble::init(&config, e, 0, &device)?;
                let cfg = |steps| TrainConfig {
                    rule,
                    lr: 0.01,
                    steps,
                    engine,
                };
                train(&mut ens, &data, &cfg(o.warmup.max(1)), &[], |_, _| Ok(()))?;
                let t = Instant::now();
                let report = train(&mut ens, &data, &cfg(o.steps), &[], |_, _| Ok(()))?;
                // `steps` updates plus one final loss evaluation
                let s = t.elapsed().as_secs_f64() / o.steps as f64;
                let p = report.plan;
                // one managed layer (n → n) per network: checks = examined columns / n
                let checks = p.checked_columns as f64 / width as f64;
                emit(BenchRow {
                    case: format!("{name} [{:?}]", engine.resolve(&ens)).to_lowercase(),
                    width,
                    nets: e,
                    ms: 1e3 * s,
                    gflops: Some(flops / s / 1e9),
                    matmul_gflops: Some(flops / mm / 1e9),
                    changed_units_per_step: (p.checked_columns > 0)
                        .then(|| p.changed_columns as f64 / checks),
                    peak_fraction: None,
                });
            }
        }
        // structured empirical kernel: 15 training points × 100 grid points, 10 networks
        let x1 = data.x.clone();
        let x2 = circle_points(&test_grid(100));
        let config = MlpConfig::new(vec![2, width, width, 1], Activation::Erf { m: 2.0 });
        let ens = Ensemble::init(&config, 10, 0, &device)?;
        let pair = DerivativePair::sg_ntk(Surrogate::ErfPrime { a: 1.0 });
        let s = time_it(3, || {
            let _ = ensemble_kernels(&ens, &x1, &x2, pair).map(|k| k.into_data());
        });
        emit(BenchRow {
            case: "structured kernel 15x100 (SG-NTK)".into(),
            width,
            nets: 10,
            ms: 1e3 * s,
            gflops: None,
            matmul_gflops: None,
            changed_units_per_step: None,
            peak_fraction: None,
        });
        if o.generic_width == Some(width) {
            let one = Mlp(Ensemble::init(&config, 1, 0, &device)?);
            let single = Ensemble::init(&config, 1, 0, &device)?;
            let ts = time_it(3, || {
                let _ = ensemble_kernels(&single, &x1, &x2, pair).map(|k| k.into_data());
            });
            let t = Instant::now();
            jacobian_kernel(&one, &x1, &x2, pair)?;
            let tg = t.elapsed().as_secs_f64();
            emit(BenchRow {
                case: "structured kernel 15x100, 1 net".into(),
                width,
                nets: 1,
                ms: 1e3 * ts,
                gflops: None,
                matmul_gflops: None,
                changed_units_per_step: None,
                peak_fraction: None,
            });
            emit(BenchRow {
                case: format!("generic kernel 15x100, 1 net ({:.0}x)", tg / ts),
                width,
                nets: 1,
                ms: 1e3 * tg,
                gflops: None,
                matmul_gflops: None,
                changed_units_per_step: None,
                peak_fraction: None,
            });
        }
    }
    // analytic kernel matrices, N × N points on the circle (--kernel-points, 1000), depth 3, σw = 1, σb = 0.1:
    // compute only (the best of --kernel-reps after a warm-up; bench/nt_reference.py times
    // neural-tangents' kernel_fn on the same points)
    let n = o.kernel_points;
    let x: DMatrix<f64> = circle_points(&test_grid(n));
    let erf_prime = Surrogate::ErfPrime { a: 1.0 };
    for (kind, name, act) in [
        (KernelKind::Ntk, "NTK", "erf"),
        (KernelKind::Ntk, "NTK", "relu"),
        (KernelKind::Ntk, "NTK", "sign"),
        (KernelKind::SgNtk, "SG-NTK", "erf"),
        (KernelKind::SgNtk, "SG-NTK", "sign"),
    ]
    .into_iter()
    .filter(|_| n > 0)
    {
        let spec = KernelSpec::paper(act.parse()?, erf_prime);
        let s = best_of(o.kernel_reps, || {
            let _ = kernel_matrix(&spec, kind, &x, &x);
        });
        emit(BenchRow {
            case: format!("analytic {name} {n}x{n} ({act})"),
            width: 0,
            nets: 0,
            ms: 1e3 * s,
            gflops: None,
            matmul_gflops: None,
            changed_units_per_step: None,
            peak_fraction: None,
        });
    }
    // tanh has no closed form: the NTK by quadrature, N/10 × N/10 points (trapezoid rule), and
    // N/100 × N/100 by the nested adaptive rule (Method::Adaptive, the former path) for the
    // time per entry
    let tanh = KernelSpec::paper(Activation::Tanh, erf_prime);
    for (points, spec, label, reps) in [
        (n / 10, tanh, "", 3),
        (
            n / 100,
            tanh.with_method(sgntk_ntk::Method::Adaptive),
            ", adaptive",
            1,
        ),
    ]
    .into_iter()
    .filter(|c| c.0 > 0)
    {
        let x: DMatrix<f64> = circle_points(&test_grid(points));
        let s = best_of(reps, || {
            let _ = kernel_matrix(&spec, KernelKind::Ntk, &x, &x);
        });
        emit(BenchRow {
            case: format!("analytic NTK {points}x{points} (tanh{label})"),
            width: 0,
            nets: 0,
            ms: 1e3 * s,
            gflops: None,
            matmul_gflops: None,
            changed_units_per_step: None,
            peak_fraction: None,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_of_a_small_network() {
        // 2 → 3 → 1 on 4 inputs, 2 networks: layer 1: fwd + grad = 2·(2·4·2·3); layer 2: fwd +
        // grad + backward = 3·(2·4·3·1); times 2 networks.
        assert_eq!(
            step_flops(&[2, 3, 1], 4, 2),
            2.0 * (2.0 * 48.0 + 3.0 * 24.0)
        );
    }
}
