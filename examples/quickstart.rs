//! Quickstart: train an ensemble of sign networks with surrogate gradients on the paper's circle
//! task, then measure the empirical SG-NTK of erf networks at initialization.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use sgntk::model::{
    data, train, Activation, BackendKind, Ensemble, LearningRule, MlpConfig, Surrogate,
    TrainConfig, TrainSet,
};
use sgntk::ntk::empirical::{empirical_kernel, ensemble_mean, ensemble_spread, DerivativePair};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = BackendKind::default();
    let device = backend.device()?;
    let x = data::circle_points(&data::uniform_angles(15, data::DEFAULT_DATA_SEED));
    let set = TrainSet {
        y: data::targets(&x),
        x,
    };

    // 1. SGL: sign activation forward, erf' surrogate backward (the paper's Fig. 3 setting).
    let config = MlpConfig::paper(256, Activation::Sign);
    let mut nets = Ensemble::init(&config, 16, 0, &device)?;
    let cfg = TrainConfig::new(LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }), 0.1, 2000);
    println!(
        "backend {backend}: SGL of 16 sign networks (2 → 256 → 256 → 1), {} steps",
        cfg.steps
    );
    let report = train(&mut nets, &set, &cfg, &[], |_, _| Ok(()))?;
    for t in [0, 10, 100, 1000, 2000] {
        println!("  step {t:>5}: mean training loss {:.3e}", report.loss[t]);
    }

    // 2. Empirical SG-NTK of erf:5 networks against x(0) = (0, 1), over 8 angles.
    let config = MlpConfig::paper(1024, "erf:5".parse()?);
    let ens = Ensemble::init(&config, 8, 1, &device)?;
    let x0 = data::circle_points(&[0.0]);
    let grid: Vec<f64> = (0..8)
        .map(|i| -std::f64::consts::PI + i as f64 * std::f64::consts::PI / 4.0)
        .collect();
    let xs = data::circle_points(&grid);
    let ks = empirical_kernel(&ens, &x0, &xs, DerivativePair::sg_ntk("erf-prime".parse()?))?;
    let (mean, spread) = (ensemble_mean(&ks), ensemble_spread(&ks));
    println!("empirical SG-NTK (erf:5, width 1024, 8 nets) vs Δα:");
    for (j, a) in grid.iter().enumerate() {
        println!(
            "  Δα = {a:+.3}: {:.4} ± {:.4}",
            mean[(0, j)],
            spread[(0, j)]
        );
    }
    Ok(())
}
