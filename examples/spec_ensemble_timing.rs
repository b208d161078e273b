//! Side-by-side timing of NetSpec ensembles (f32 on flex): networks trained as one batched
//! ensemble (`train_flat_ensemble`) against the same networks one after the other (`train_flat`),
//! for a residual MLP and a small CNN, and the residual MLP (an MLP with skip connections) and an
//! MLP ensemble with about its number of parameters on the lowrank engine. Prints ms per ensemble
//! step; compare rows of one run only (the machine's timings drift between runs). In a debug build the fused/lowrank
//! engine (workspace code) is unoptimized while burn is not: compare that row only in release.
//!
//! ```sh
//! cargo run --release --example spec_ensemble_timing -- [nets] [steps]   # default 100 10
//! python3 bench/jax_cnn_reference.py --nets 100 --steps 10               # the CNN in JAX
//! ```

use std::time::Instant;

use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{
    data, train, train_flat, train_flat_ensemble, Activation, BackendKind, Engine, Ensemble, Layer,
    LearningRule, MlpConfig, NetSpec, Padding, ResidualConfig, TrainConfig, TrainSet,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let nets = args.first().copied().unwrap_or(100);
    let steps = args.get(1).copied().unwrap_or(10);
    let device = BackendKind::Flex.device()?;
    let rule = LearningRule::Sgl("erf-prime:1".parse()?);
    let config = TrainConfig::new(rule, 0.1, steps);
    let x = data::circle_points(&data::PAPER_TRAIN_ANGLES);
    let circle = TrainSet {
        y: data::targets(&x),
        x,
    };
    println!("{nets} networks, {steps} SGL steps (sign, erf'), f32 on flex; ms per ensemble step");

    // A residual MLP 2 → 64 → 2 blocks → 1 and an MLP 2 → 90 → 90 → 1 of about its size.
    let residual = NetSpec::residual(&ResidualConfig::new(64, 2, Activation::Sign));
    let mlp = MlpConfig::paper(90, Activation::Sign);
    let params = |s: &NetSpec| -> usize {
        let net = s.init(0, 0, &device).expect("valid");
        use sgntk::model::FlatParamModel;
        net.parameters().iter().map(|p| p.dims()[0]).sum()
    };
    println!(
        "residual 2→64→(2 blocks)→1: {} parameters; MLP 2→90→90→1: {} parameters",
        params(&residual),
        params(&NetSpec::mlp(&mlp))
    );
    compare("residual", &residual, nets, &circle, &config, &device)?;
    let lowrank = TrainConfig {
        engine: Engine::Lowrank,
        ..config.clone()
    };
    // The same residual networks as an MLP with skip connections (what `sgntk train --net`
    // runs), and the MLP, on the lowrank engine.
    let mut ens = Ensemble::init(&MlpConfig::try_from(&residual)?, nets, 0, &device)?;
    let t = Instant::now();
    train(&mut ens, &circle, &lowrank, &[], |_, _| Ok(()))?;
    let skips = row("residual, lowrank engine", t, steps);
    let mut ens = Ensemble::init(&mlp, nets, 0, &device)?;
    let t = Instant::now();
    train(&mut ens, &circle, &lowrank, &[], |_, _| Ok(()))?;
    let plain = row("MLP, lowrank engine", t, steps);
    println!(
        "  residual (lowrank) trains at {:.2}× the speed of the MLP (lowrank)",
        plain / skips
    );

    // conv(16, 3×3, same) → sign → conv(16, 3×3, same) → sign → flatten → Dense{1} on 8×8×1.
    let conv = || Layer::Conv {
        channels: 16,
        filter: vec![3, 3],
        padding: Padding::Same,
    };
    let cnn = NetSpec {
        input_shape: vec![8, 8, 1],
        layers: vec![
            conv(),
            Layer::Act(Activation::Sign),
            conv(),
            Layer::Act(Activation::Sign),
            Layer::Flatten,
            Layer::Dense { width: 1 },
        ],
        sigma_w: 1.0,
        sigma_b: 0.1,
        kappa: 1.0,
    };
    let images = TrainSet {
        x: data::embedded_circle(&data::PAPER_TRAIN_ANGLES, 64, 0),
        y: circle.y.clone(),
    };
    compare("CNN", &cnn, nets, &images, &config, &device)?;
    Ok(())
}

/// Times `nets` networks of `spec` one after the other and as one batched ensemble.
fn compare(
    name: &str,
    spec: &NetSpec,
    nets: usize,
    set: &TrainSet,
    config: &TrainConfig,
    device: &sgntk::model::burn::tensor::Device,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let mut last = DMatrix::zeros(0, 0);
    for k in 0..nets {
        let mut net = spec.init(0, k, device)?;
        train_flat(&mut net, set, config, &[], |_, _| Ok(()))?;
        last = net.predict(&set.x)?;
    }
    let one = row(&format!("{name}, one network at a time"), t, config.steps);
    let t = Instant::now();
    let (trained, _) = train_flat_ensemble(spec, 0, 0..nets, set, config, device, None)?;
    let batched = row(&format!("{name}, batched ensemble"), t, config.steps);
    let diff = (trained[nets - 1].predict(&set.x)? - last).amax();
    println!(
        "  {name}: batched / one at a time = {:.3}; last network's outputs differ by {diff:.1e}",
        batched / one
    );
    Ok(())
}

/// Prints and returns ms per step since `t`.
fn row(what: &str, t: Instant, steps: usize) -> f64 {
    let ms = 1e3 * t.elapsed().as_secs_f64() / steps as f64;
    println!("{what:40} {ms:10.2} ms/step");
    ms
}
