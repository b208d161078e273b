//! Timing of analytic kernel matrices (not a test): `cargo bench -p sgntk-ntk --bench analytic`.
//!
//! 1000 × 1000 inputs on the unit circle, depth 3, NTK and SG-NTK (σ̃ = erf') for erf:5 and sign.

use std::time::Instant;

use sgntk_model::nalgebra::DMatrix;
use sgntk_ntk::{kernel_matrix, KernelKind, KernelSpec};

fn circle(n: usize, phase: f64) -> DMatrix<f64> {
    DMatrix::from_fn(n, 2, |i, j| {
        let a = -std::f64::consts::PI + 2.0 * std::f64::consts::PI * (i as f64 + phase) / n as f64;
        if j == 0 {
            a.cos()
        } else {
            a.sin()
        }
    })
}

fn main() {
    let n = 1000;
    let x1 = circle(n, 0.0);
    let x2 = circle(n, 0.37);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!("analytic kernels, {n} x {n}, depth 3, {threads} threads");
    for act in ["erf:5", "sign"] {
        let spec = KernelSpec::paper(act.parse().unwrap(), "erf-prime".parse().unwrap());
        for (name, kind) in [
            ("nngp", KernelKind::Nngp),
            ("ntk", KernelKind::Ntk),
            ("sgntk", KernelKind::SgNtk),
        ] {
            // one warm-up, then the best of three
            let mut best = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                let k = kernel_matrix(&spec, kind, &x1, &x2).expect("kernel");
                std::hint::black_box(&k);
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("{act:>6} {name:>6}: {:8.2} ms", best * 1e3);
        }
    }
}
