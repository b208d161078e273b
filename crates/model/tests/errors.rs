//! Every bad configuration gives a typed error with a message naming the problem.

mod common;
use common::{circle_task, flex};

use nalgebra::DMatrix;
use sgntk_model::{
    train, Activation, BackendKind, Engine, Ensemble, LearningRule, MlpConfig, ModelError,
    SpecError, TrainConfig, TrainSet,
};

/// The training task of these tests: 15 points on the circle.
fn task() -> TrainSet {
    circle_task(15, 1)
}

fn init_err(config: MlpConfig) -> ModelError {
    Ensemble::init(&config, 2, 0, &flex()).unwrap_err()
}

/// One paper network of `width` with `activation` (seed 0) on flex.
fn one_network(width: usize, activation: Activation) -> Ensemble {
    Ensemble::init(&MlpConfig::paper(width, activation), 1, 0, &flex()).unwrap()
}

/// Gradient descent with learning rate `lr` for `steps` steps.
fn gd(lr: f64, steps: usize) -> TrainConfig {
    TrainConfig::new(LearningRule::Gd, lr, steps)
}

#[test]
fn bad_network_configs() {
    let erf = Activation::Erf { m: 2.0 };
    let e = init_err(MlpConfig::new(vec![2, 0, 4, 1], erf));
    assert_eq!(e, ModelError::ZeroWidth { layer: 1 });
    assert!(e.to_string().contains("layer 1 has width 0"));
    let e = init_err(MlpConfig::new(vec![2], erf));
    assert!(matches!(e, ModelError::NoLayers { count: 1 }));
    for sw in [0.0, -1.0, f64::NAN] {
        let mut c = MlpConfig::paper(4, erf);
        c.sigma_w = sw;
        let e = init_err(c);
        assert!(matches!(e, ModelError::NonPositiveSigmaW(_)), "{e}");
        assert!(e.to_string().contains("sigma_w"));
    }
    let mut c = MlpConfig::paper(4, erf);
    c.sigma_b = -0.1;
    let e = init_err(c);
    assert_eq!(e, ModelError::NegativeSigmaB(-0.1));
    assert!(e.to_string().contains("sigma_b = -0.1"));
    let mut c = MlpConfig::paper(4, erf);
    c.kappa = 0.0;
    assert!(matches!(init_err(c), ModelError::NonPositiveKappa(_)));
    for m in [0.0, -2.0] {
        let e = init_err(MlpConfig::paper(4, Activation::Erf { m }));
        assert!(
            matches!(e, ModelError::Spec(SpecError::NonPositiveParameter { .. })),
            "{e}"
        );
    }
    let e = "erf:0".parse::<Activation>().unwrap_err();
    assert!(e.to_string().contains("must be a finite number > 0"), "{e}");
    let e = Ensemble::init(&MlpConfig::paper(4, erf), 0, 0, &flex()).unwrap_err();
    assert_eq!(e, ModelError::EmptyEnsemble);
}

#[test]
fn bad_training_inputs() {
    let mut ens = one_network(4, Activation::Tanh);
    let ok = gd(0.1, 3);
    for lr in [0.0, -0.1, f64::INFINITY] {
        let cfg = TrainConfig { lr, ..ok.clone() };
        let e = train(&mut ens, &task(), &cfg, &[], |_, _| Ok(())).unwrap_err();
        assert!(matches!(e, ModelError::NonPositiveLearningRate(_)), "{e}");
        assert!(e.to_string().contains("learning rate"));
    }
    let mut bad = task();
    bad.x[(3, 1)] = f64::NAN;
    let e = train(&mut ens, &bad, &ok, &[], |_, _| Ok(())).unwrap_err();
    assert_eq!(
        e,
        ModelError::NonFiniteData {
            what: "inputs",
            row: 3,
            col: 1
        }
    );
    let mut bad = task();
    bad.y[(5, 0)] = f64::INFINITY;
    let e = train(&mut ens, &bad, &ok, &[], |_, _| Ok(())).unwrap_err();
    assert!(
        e.to_string()
            .contains("targets contains a non-finite value at row 5"),
        "{e}"
    );
    let bad = TrainSet {
        x: DMatrix::zeros(4, 3),
        y: DMatrix::zeros(4, 1),
    };
    let e = train(&mut ens, &bad, &ok, &[], |_, _| Ok(())).unwrap_err();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }));
    assert!(e.to_string().contains("expected 2 columns"), "{e}");
    let bad = TrainSet {
        x: DMatrix::zeros(4, 2),
        y: DMatrix::zeros(3, 1),
    };
    let e = train(&mut ens, &bad, &ok, &[], |_, _| Ok(())).unwrap_err();
    assert!(e.to_string().contains("targets"), "{e}");
    let e = ens.predict(&DMatrix::zeros(2, 5)).unwrap_err();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }));
}

#[test]
fn divergence_names_the_step_and_suggests_a_smaller_rate() {
    let mut ens = one_network(64, Activation::Relu);
    let cfg = gd(50.0, 500);
    let e = train(&mut ens, &task(), &cfg, &[], |_, _| Ok(())).unwrap_err();
    match &e {
        ModelError::NonFiniteLoss { step, lr, .. } => {
            assert!(*step > 0 && *step <= 500);
            assert_eq!(*lr, 50.0);
        }
        other => panic!("expected NonFiniteLoss, got {other}"),
    }
    assert!(
        e.to_string()
            .contains("try a learning rate smaller than 50"),
        "{e}"
    );
}

/// Every engine runs through the one training loop: the same divergence is named at the same
/// step (the burn engines read losses back in batches of 100 but still name the first bad step;
/// the fused ones one step later, see below), and hooks before it see the recorded steps only.
#[test]
fn every_engine_names_the_same_divergence_step() {
    let step_of = |e: ModelError| match e {
        ModelError::NonFiniteLoss { step, .. } => step,
        other => panic!("expected NonFiniteLoss, got {other}"),
    };
    let mut steps = vec![];
    for engine in [
        Engine::Fused,
        Engine::Lowrank,
        Engine::Explicit,
        Engine::Autodiff,
    ] {
        let mut ens = one_network(64, Activation::Relu);
        let cfg = TrainConfig {
            engine,
            ..gd(50.0, 500)
        };
        let mut seen = vec![];
        let e = train(&mut ens, &task(), &cfg, &[0, 2], |t, _| {
            seen.push(t);
            Ok(())
        })
        .unwrap_err();
        let step = step_of(e);
        assert_eq!(seen, vec![0, 2], "{engine:?}");
        steps.push((engine, step));
    }
    let mut model = sgntk_model::Mlp(one_network(64, Activation::Relu));
    let e = sgntk_model::train_flat(&mut model, &task(), &gd(50.0, 500), &[], |_, _| Ok(()))
        .unwrap_err();
    let flat = step_of(e);
    for (engine, step) in &steps {
        assert!(*step > 2 && *step < 500, "{engine:?} diverged at {step}");
        // The fused engines sum the squared f32 residuals in f64, so a loss whose f32 sum
        // overflows is still finite there; it turns non-finite one step later.
        let expected = match engine {
            Engine::Fused | Engine::Lowrank => flat + 1,
            _ => flat,
        };
        assert_eq!(
            *step, expected,
            "{engine:?} vs train_flat: {steps:?}, flat {flat}"
        );
    }
}

#[test]
fn unknown_backend_is_an_error() {
    let e = "tpu".parse::<BackendKind>().unwrap_err();
    assert!(e.to_string().contains("tpu"));
    if !BackendKind::Wgpu.is_available() {
        let e = BackendKind::Wgpu.device().unwrap_err();
        assert!(e.to_string().contains("--features wgpu"), "{e}");
    }
}
