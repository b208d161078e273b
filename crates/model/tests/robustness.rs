//! Robustness (issue 13): spec strings never panic, sizes are checked before allocating, values
//! that f32 cannot hold are rejected, and a diverged run is an error even when its loss stays
//! finite.

mod common;
use common::{circle_task, flex};

use nalgebra::DMatrix;
use proptest::prelude::*;
use sgntk_model::{
    init_member, train, Activation, BackendKind, Engine, Ensemble, LearningRule, MlpConfig,
    ModelError, SpecError, Surrogate, TrainConfig, TrainSet,
};

/// The training task of these tests: 6 points on the circle.
fn task() -> TrainSet {
    circle_task(6, 1)
}

proptest! {
    #[test]
    fn spec_parsers_never_panic(s in "\\PC{0,24}") {
        let _ = s.parse::<Activation>();
        let _ = s.parse::<Surrogate>();
        let _ = s.parse::<BackendKind>();
    }

    #[test]
    fn spec_parsers_never_panic_on_family_prefixes(
        family in prop::sample::select(vec![
            "erf", "erf-prime", "fast-sigmoid", "atan", "sigmoid", "triangle", "boxcar", "sign",
            "true", "straight-through",
        ]),
        rest in "[-+:.eE0-9a-z infINFnaN]{0,16}",
    ) {
        let s = format!("{family}{rest}");
        let _ = s.parse::<Activation>();
        let _ = s.parse::<Surrogate>();
    }

    /// Any f64: accepted exactly when finite and > 0, and printed back to the same value.
    #[test]
    fn numeric_parameters_round_trip(bits in any::<u64>()) {
        let p = f64::from_bits(bits);
        let ok = p.is_finite() && p > 0.0;
        let a = format!("erf:{p}").parse::<Activation>();
        prop_assert_eq!(a.is_ok(), ok, "erf:{}", p);
        if let Ok(a) = a {
            prop_assert_eq!(a, Activation::Erf { m: p });
            prop_assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
        }
        for family in ["erf-prime", "fast-sigmoid", "atan", "sigmoid", "triangle", "boxcar"] {
            let g = format!("{family}:{p:e}").parse::<Surrogate>();
            prop_assert_eq!(g.is_ok(), ok, "{}:{}", family, p);
            if let Ok(g) = g {
                prop_assert_eq!(g.to_string().parse::<Surrogate>().unwrap(), g);
                prop_assert_eq!(g.parameter(), Some(p));
            }
        }
    }
}

#[test]
fn empty_parameters_are_errors() {
    for spec in ["erf:", "ERF :  "] {
        let e = spec.parse::<Activation>().unwrap_err();
        assert!(matches!(e, SpecError::EmptyParameter { .. }), "{e}");
    }
    for spec in [
        "fast-sigmoid:",
        "erf-prime:",
        "atan:",
        "sigmoid:",
        "triangle:",
        "boxcar:",
    ] {
        let e = spec.parse::<Surrogate>().unwrap_err();
        assert!(e.to_string().contains("is empty"), "{spec}: {e}");
    }
    // No colon still means the default.
    assert_eq!(
        "erf".parse::<Activation>().unwrap(),
        Activation::Erf { m: 1.0 }
    );
}

#[test]
fn absurd_sizes_fail_before_allocating() {
    let erf = Activation::Erf { m: 2.0 };
    // --width 1e10: P ≈ 1e20 parameters
    let e = MlpConfig::paper(10_000_000_000, erf)
        .validate()
        .unwrap_err();
    assert!(matches!(e, ModelError::Memory(_)), "{e}");
    assert!(e.to_string().contains("memory here"), "{e}");
    // widths whose P overflows 64 bits
    let e = MlpConfig::new(vec![2, usize::MAX, usize::MAX, 1], erf)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("2^64"), "{e}");
    // --nets 1e9 of a small network
    let e = Ensemble::init(&MlpConfig::paper(16, erf), 1_000_000_000, 0, &flex()).unwrap_err();
    assert!(matches!(e, ModelError::Memory(_)), "{e}");
    assert!(e.to_string().contains("networks fit"), "{e}");
    // --steps 1e10 and usize::MAX: the loss curve
    for steps in [1_000_000_000_000, usize::MAX] {
        let e = TrainConfig::new(LearningRule::Gd, 0.1, steps)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("loss values"), "{e}");
    }
}

#[test]
fn settings_that_overflow_f32_are_rejected() {
    let config = MlpConfig::paper(8, Activation::Sign);
    for engine in [Engine::Fused, Engine::Explicit] {
        for g in ["erf-prime:1e200", "erf-prime:1e20", "triangle:1e-30"] {
            let mut ens = Ensemble::init(&config, 2, 0, &flex()).unwrap();
            let cfg = TrainConfig {
                rule: LearningRule::Sgl(g.parse().unwrap()),
                lr: 0.1,
                steps: 3,
                engine,
            };
            let e = train(&mut ens, &task(), &cfg, &[], |_, _| Ok(())).unwrap_err();
            assert!(
                matches!(e, ModelError::NotRepresentableInF32 { .. }),
                "{engine:?} {g}: {e}"
            );
            assert!(e.to_string().contains("f32"), "{e}");
        }
        let mut ens = Ensemble::init(&config, 2, 0, &flex()).unwrap();
        let cfg = TrainConfig {
            engine,
            ..TrainConfig::new(LearningRule::Gd, 1e39, 1)
        };
        let e = train(&mut ens, &task(), &cfg, &[], |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("learning rate"), "{e}");
    }
}

#[test]
fn inputs_that_overflow_f32_are_rejected() {
    let ens = Ensemble::init(&MlpConfig::paper(4, Activation::Relu), 2, 0, &flex()).unwrap();
    let x = DMatrix::from_row_slice(2, 2, &[0.5, 0.5, 1e39, 1e39]);
    let e = ens.predict(&x).unwrap_err();
    assert!(
        matches!(e, ModelError::DataOverflowsF32 { row: 1, col: 0, .. }),
        "{e}"
    );
    let mut data = task();
    data.y[(2, 0)] = -1e300;
    let mut ens = ens.clone();
    let cfg = TrainConfig::new(LearningRule::Gd, 0.1, 0);
    let e = train(&mut ens, &data, &cfg, &[], |_, _| Ok(())).unwrap_err();
    assert!(e.to_string().contains("targets value"), "{e}");
}

/// NaN weights in the first layer of a sign network: sign(NaN) used to give 0, the loss stayed
/// finite and every network collapsed to the same outputs with status 0.
#[test]
fn nan_parameters_are_detected_by_every_engine() {
    let config = MlpConfig::paper(8, Activation::Sign);
    let mut params: Vec<_> = (0..2).map(|k| init_member(&config, 0, k)).collect();
    params[1][0].weight[(3, 1)] = f64::NAN;
    for engine in [Engine::Fused, Engine::Explicit, Engine::Autodiff] {
        let mut ens = Ensemble::from_host(&config, &params, &flex()).unwrap();
        let cfg = TrainConfig {
            rule: LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }),
            lr: 0.1,
            steps: 2,
            engine,
        };
        let e = train(&mut ens, &task(), &cfg, &[], |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::NonFiniteLoss { .. } | ModelError::NonFiniteParameters { .. }
            ),
            "{engine:?}: {e}"
        );
    }
    let ens = Ensemble::from_host(&config, &params, &flex()).unwrap();
    let e = ens.check_parameters_finite(7).unwrap_err();
    assert_eq!(
        e,
        ModelError::NonFiniteParameters {
            step: 7,
            layer: 1,
            member: 1
        }
    );
}
