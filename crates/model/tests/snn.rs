//! The LIF spiking network: reduction to a one-hidden-layer step MLP, and SGL through time.

mod common;

use sgntk_model::nalgebra::{DMatrix, DVector};
use sgntk_model::{
    data, flat_gradients, gradients, train_flat, Activation, BackendKind, Ensemble, HostLayer,
    LearningRule, MlpConfig, Snn, SnnConfig, SnnParams, Surrogate, TrainConfig, TrainSet,
};

/// The 15 circle points of the default data seed, with the paper's targets.
fn circle_task() -> TrainSet {
    common::circle_task(15, data::DEFAULT_DATA_SEED)
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).powi(2))
        .sum::<f64>()
        .sqrt();
    let den = b.iter().map(|q| q * q).sum::<f64>().sqrt();
    num / den
}

/// T = 1, β = 0: u_1 = σw/√n0 W_in x + σb b, s_1 = step(u_1 − θ), f = σw/√n w_outᵀ s_1 + σb b_out,
/// i.e. the MLP 2 → n → 1 with hidden bias b − θ/σb. SGL gradients must agree.
#[test]
fn one_step_lif_equals_a_step_mlp() {
    let device = BackendKind::Flex.device().unwrap();
    let set = circle_task();
    let n = 48;
    let mut cfg = SnnConfig::new(n, 1);
    cfg.beta = 0.0;
    cfg.theta = 0.3;
    let p = SnnParams::init(&cfg, 11);
    let snn = Snn::from_host(&cfg, &p, &device).unwrap();
    let mlp_cfg = MlpConfig::new(vec![2, n, 1], Activation::Step);
    let layers = vec![
        HostLayer {
            weight: p.w_in.clone(),
            bias: p.b.map(|v| v - cfg.theta / cfg.sigma_b),
        },
        HostLayer {
            weight: DMatrix::from_row_slice(1, n, p.w_out.as_slice()),
            bias: DVector::from_element(1, p.b_out),
        },
    ];
    let mlp = Ensemble::from_host(&mlp_cfg, &[layers], &device).unwrap();
    let f_snn = snn.predict(&set.x).unwrap();
    let f_mlp = mlp.predict(&set.x).unwrap().remove(0);
    assert!((&f_snn - &f_mlp).amax() < 1e-5, "{f_snn} vs {f_mlp}");
    for g in [
        Surrogate::ErfPrime { a: 1.0 },
        Surrogate::FastSigmoid { k: 2.0 },
        Surrogate::Triangle { w: 1.0 },
    ] {
        let rule = LearningRule::Sgl(g);
        let (l_snn, g_snn) = flat_gradients(&snn, &set, rule).unwrap();
        let (l_mlp, g_mlp) = gradients(&mlp, &set, rule).unwrap();
        assert!((l_snn - l_mlp[0]).abs() < 1e-6 * l_mlp[0]);
        let m = &g_mlp[0];
        let w_in: Vec<f64> = m[0].weight.transpose().iter().copied().collect(); // row-major
        let b: Vec<f64> = m[0].bias.iter().copied().collect();
        let w_out: Vec<f64> = m[1].weight.iter().copied().collect();
        let b_out = vec![m[1].bias[0]];
        // the hidden bias of the MLP is b − θ/σb: same gradient
        for (name, a, want) in [
            ("W_in", &g_snn[0], &w_in),
            ("b", &g_snn[2], &b),
            ("w_out", &g_snn[3], &w_out),
            ("b_out", &g_snn[4], &b_out),
        ] {
            let r = rel(a, want);
            assert!(r < 1e-5, "{g}: {name} rel {r}");
        }
        // s_0 = 0, so W_rec gets no gradient at T = 1
        assert!(g_snn[1].iter().all(|v| *v == 0.0));
    }
}

#[test]
fn sgl_through_time_fits_the_circle_task() {
    let device = BackendKind::Flex.device().unwrap();
    let set = circle_task();
    let mut cfg = SnnConfig::new(128, 6);
    cfg.beta = 0.8;
    cfg.theta = 0.5;
    let mut snn = Snn::init(&cfg, 3, &device).unwrap();
    let train = TrainConfig::new(LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }), 0.1, 1500);
    let mut seen = Vec::new();
    let report = train_flat(&mut snn, &set, &train, &[0, 1500], |t, _| {
        seen.push(t);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec![0, 1500]);
    let (first, last) = (report.loss[0], *report.loss.last().unwrap());
    println!(
        "LIF SGL loss {first:.4} -> {last:.5} ({:.0}x)",
        first / last
    );
    assert!(last * 10.0 < first, "loss {first} -> {last}");
    // the reported loss is the loss of the returned network
    let f = snn.predict(&set.x).unwrap();
    let l = (&f - &set.y).norm_squared() / (2.0 * 15.0);
    assert!((l - last).abs() < 1e-5 * last.max(1e-3));
}

#[test]
fn bad_lif_settings_are_errors() {
    let device = BackendKind::Flex.device().unwrap();
    let init_error = |cfg: &SnnConfig| Snn::init(cfg, 0, &device).unwrap_err().to_string();
    let beta = SnnConfig {
        beta: 1.5,
        ..SnnConfig::new(8, 3)
    };
    assert!(init_error(&beta).contains("beta"));
    let theta = SnnConfig {
        theta: 0.0,
        ..SnnConfig::new(8, 3)
    };
    assert!(init_error(&theta).contains("theta"));
    assert!(Snn::init(&SnnConfig::new(8, 0), 0, &device).is_err());
    let snn = Snn::init(&SnnConfig::new(8, 2), 0, &device).unwrap();
    assert!(snn.predict(&DMatrix::zeros(3, 3)).is_err());
    assert!(snn.predict(&DMatrix::from_element(2, 2, f64::NAN)).is_err());
}
