//! `NetSpec`: one description for the finite network and its infinite-width kernels. The paper's
//! MLP and the residual MLP are constructors of it; a composition no other code path knows is
//! checked against Monte Carlo.

mod common;
use common::assert_covariance_within_4_se;
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    data, Activation, BackendKind, Ensemble, FlatParamModel, Layer, Mlp, MlpConfig, ModelError,
    NetSpec, ResidualConfig, Surrogate,
};
use sgntk_ntk::{
    gp_predict, kernel_matrix, network_kernel_matrix, spec_network, KernelKind, KernelSpec,
    Kernels, Method, TrainTime,
};

fn points() -> DMatrix<f64> {
    data::circle_points(&[0.0, 0.4, 1.3, 2.9])
}

fn max_rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let scale = b.abs().max();
    (a - b).abs().max() / scale
}

#[test]
fn a_linear_spec_has_the_closed_form_kernels() {
    // Dense{5} → Dense{1} without an activation: Σ1 = σw²⟨x, x'⟩/n0 + σb², Σ2 = σw² Σ1 + σb²,
    // Θ2 = Σ2 + σw² Θ1 with Θ1 = Σ1; the output carries κ² (docs/MATH.md §5). Any g1, g2 give the NTK.
    let (sw, sb, kappa) = (1.3, 0.4, 0.6);
    let spec = NetSpec {
        input_shape: vec![2],
        layers: vec![Layer::Dense { width: 5 }, Layer::Dense { width: 1 }],
        sigma_w: sw,
        sigma_b: sb,
        kappa,
    };
    let x = points();
    let sigma1 = (&x * x.transpose()) * (sw * sw / 2.0)
        + DMatrix::from_element(x.nrows(), x.nrows(), sb * sb);
    let sigma2 = &sigma1 * (sw * sw) + DMatrix::from_element(x.nrows(), x.nrows(), sb * sb);
    let ntk = (&sigma2 + &sigma1 * (sw * sw)) * (kappa * kappa);
    let nngp = sigma2 * (kappa * kappa);
    let sign: Surrogate = "erf-prime:1".parse().unwrap();
    let kernels = |kind| {
        let k = Kernels::Spec {
            spec: &spec,
            surrogate: sign,
            method: Method::Auto,
        };
        kernel_matrix(k, kind, &x, &x).unwrap()
    };
    assert!(max_rel(&kernels(KernelKind::Nngp), &nngp) < 1e-14);
    for kind in [KernelKind::Ntk, KernelKind::SgNtk] {
        assert!(max_rel(&kernels(kind), &ntk) < 1e-14, "{kind:?}");
    }
    // Inputs of another dimension are a one-line error, not a kernel of the wrong network.
    let x3 = DMatrix::from_element(2, 3, 0.5);
    let k = Kernels::Spec {
        spec: &spec,
        surrogate: sign,
        method: Method::Auto,
    };
    let e = kernel_matrix(k, KernelKind::Nngp, &x3, &x3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 columns") && e.contains("got 3 columns"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn the_mlp_spec_computes_the_ensemble_network() {
    let device = BackendKind::Flex.device().unwrap();
    let config = MlpConfig {
        kappa: 0.3,
        ..MlpConfig::new(vec![2, 40, 24, 1], Activation::Tanh)
    };
    let ens = Ensemble::init(&config, 1, 9, &device).unwrap();
    let x = points();
    let want = ens.predict(&x).unwrap().remove(0);
    let mut net = NetSpec::mlp(&config).init(0, 0, &device).unwrap();
    net.set_parameters(Mlp(ens).parameters());
    let got = net.predict(&x).unwrap();
    // f32 on flex; κ multiplies the output here and the last layer's scales there.
    let d = max_rel(&got, &want);
    assert!(d < 1e-5, "{d:e}");
}

#[test]
fn a_new_composition_matches_monte_carlo() {
    // Dense → erf → Residual(tanh → Dense → erf → Dense) → sign → Dense{1}: f_0 ~ GP(0, Σ) with Σ
    // from the fold of the layer maps. Sample covariance of 2000 networks of width 256 at three
    // inputs, within 4 standard errors (se ≈ √((Σ11Σ22 + Σ12²)/N)).
    let device = BackendKind::Flex.device().unwrap();
    let n = 256;
    let spec = NetSpec {
        input_shape: vec![2],
        layers: vec![
            Layer::Dense { width: n },
            Layer::Act(Activation::Erf { m: 1.0 }),
            Layer::Residual(vec![
                Layer::Act(Activation::Tanh),
                Layer::Dense { width: n },
                Layer::Act(Activation::Erf { m: 2.0 }),
                Layer::Dense { width: n },
            ]),
            Layer::Act(Activation::Sign),
            Layer::Dense { width: 1 },
        ],
        sigma_w: 1.2,
        sigma_b: 0.2,
        kappa: 0.9,
    };
    let x = data::circle_points(&[0.0, 0.9, 2.2]);
    let net = spec_network(&spec, KernelKind::Nngp, Surrogate::True, Method::Auto).unwrap();
    let sigma = network_kernel_matrix(&net, KernelKind::Nngp, &x, &x).unwrap();
    let nets = 2000;
    let outputs: Vec<DMatrix<f64>> = (0..nets)
        .map(|k| spec.init(21, k, &device).unwrap().predict(&x).unwrap())
        .collect();
    assert_covariance_within_4_se(&outputs, &sigma);
}

#[test]
fn malformed_specs_are_one_line_errors() {
    let device = BackendKind::Flex.device().unwrap();
    let ok = NetSpec::mlp(&MlpConfig::new(vec![2, 8, 1], Activation::Relu));
    let mut widening = ok.clone();
    widening.layers.insert(
        1,
        Layer::Residual(vec![
            Layer::Act(Activation::Relu),
            Layer::Dense { width: 9 },
        ]),
    );
    // n_L outputs come from a final Dense{n_L}; a description must end in one.
    let mut act_out = ok.clone();
    act_out.layers.push(Layer::Act(Activation::Relu));
    let negative = NetSpec {
        sigma_b: -1.0,
        ..ok.clone()
    };
    for (bad, says) in [
        (widening, "residual branch from shape [8] to [9]"),
        (act_out, "last layer"),
        (negative, "sigma_b = -1"),
    ] {
        let e = bad.init(0, 0, &device).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
        let k = spec_network(&bad, KernelKind::Nngp, Surrogate::True, Method::Auto);
        assert!(k.is_err());
    }
    assert!(matches!(
        NetSpec { sigma_w: 0.0, ..ok }.validate(),
        Err(ModelError::NonPositiveSigmaW(_))
    ));
}

#[test]
fn gp_predictions_take_any_spec() {
    // The GP of the MLP spec equals the GP of the MLP's KernelSpec (same kernels, 1e-10), and a
    // residual spec predicts finite means and variances through the same function.
    let x_train = data::circle_points(&data::PAPER_TRAIN_ANGLES);
    let y_train = data::targets(&x_train);
    let x_test = data::circle_points(&[0.3, 1.9, 4.0]);
    let g: Surrogate = "erf-prime:1".parse().unwrap();
    let config = MlpConfig::new(vec![2, 64, 64, 1], Activation::Sign);
    let spec = NetSpec::mlp(&config);
    let residual = NetSpec::residual(&ResidualConfig::new(64, 2, Activation::Sign));
    fn of(spec: &NetSpec) -> Kernels<'_> {
        let surrogate = "erf-prime:1".parse().unwrap();
        Kernels::Spec {
            spec,
            surrogate,
            method: Method::Auto,
        }
    }
    let reference = KernelSpec::from_mlp(&config, g);
    let [a, b, r] = [of(&spec), (&reference).into(), of(&residual)].map(|k| {
        let p = gp_predict(
            k,
            KernelKind::SgNtk,
            &x_train,
            &y_train,
            &x_test,
            TrainTime::Infinite,
        );
        p.unwrap()
    });
    assert!(
        max_rel(&a.mean, &b.mean) < 1e-10,
        "{} vs {}",
        a.mean,
        b.mean
    );
    assert!(max_rel(&a.cov, &b.cov) < 1e-10);
    assert!(r.mean.iter().chain(r.cov.iter()).all(|v| v.is_finite()));
}

#[test]
fn an_mlp_spec_converts_back_to_its_config() {
    // NetSpec::mlp and MlpConfig::try_from are inverse (so an MLP file trains on the batched
    // engines); anything else is a one-line error that outlines the layers.
    let config = MlpConfig {
        kappa: 0.4,
        sigma_b: 0.0,
        ..MlpConfig::new(vec![3, 7, 5, 1], Activation::Tanh)
    };
    assert_eq!(MlpConfig::try_from(&NetSpec::mlp(&config)).unwrap(), config);
    let linear = MlpConfig::new(vec![2, 1], Activation::Identity);
    assert_eq!(MlpConfig::try_from(&NetSpec::mlp(&linear)).unwrap(), linear);
    // A residual MLP is an MLP with skip connections; a residual branch of another form is not.
    let mut residual = NetSpec::residual(&ResidualConfig::new(8, 1, Activation::Sign));
    let with_skips = MlpConfig::try_from(&residual).unwrap();
    assert_eq!(with_skips.skips, vec![1]);
    assert_eq!(NetSpec::mlp(&with_skips), residual);
    residual.layers[1] = Layer::Residual(vec![Layer::Dense { width: 8 }]);
    let e = MlpConfig::try_from(&residual).unwrap_err().to_string();
    assert!(e.contains("residual [dense 8]"), "{e}");
    let mut mixed = NetSpec::mlp(&config);
    mixed.layers[3] = Layer::Act(Activation::Relu);
    let e = MlpConfig::try_from(&mixed).unwrap_err().to_string();
    assert!(e.contains("act tanh, dense 5, act relu"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

/// A residual MLP on the batched engines (an MLP with skip connections) has the empirical
/// kernels of its description: the structured kernel of the δ-recursion with skips equals the
/// per-sample Jacobian kernel of `NetSpec::init`'s networks (f32: 1e-4 relative), for the NTK
/// and the SG-NTK.
#[test]
fn a_residual_mlps_structured_kernel_is_its_descriptions_jacobian_kernel() {
    use sgntk_model::DerivativePair;
    use sgntk_ntk::empirical::{empirical_kernel, jacobian_kernel};
    let device = BackendKind::Flex.device().unwrap();
    let spec = NetSpec {
        kappa: 0.7,
        ..NetSpec::residual(&ResidualConfig::new(16, 2, Activation::Erf { m: 2.0 }))
    };
    let config = MlpConfig::try_from(&spec).unwrap();
    let ens = Ensemble::init(&config, 2, 4, &device).unwrap();
    let x = points();
    let y = data::circle_points(&[0.2, 1.0, -2.0]);
    for pair in [
        DerivativePair::NTK,
        DerivativePair::sg_ntk(Surrogate::FastSigmoid { k: 2.0 }),
    ] {
        let structured = empirical_kernel(&ens, &x, &y, pair).unwrap();
        for (k, got) in structured.iter().enumerate() {
            let net = spec.init(4, k, &device).unwrap();
            let want = jacobian_kernel(&net, &x, &y, pair).unwrap();
            assert!(
                max_rel(got, &want) < 1e-4,
                "{pair:?} network {k}: {got} vs {want}"
            );
        }
    }
}

/// Maps built for one kernel refuse to give another (they used to return the kernel they were
/// built for under the other's name): SG-NTK maps asked for the NTK, NNGP-only maps asked for the
/// SG-NTK. The NNGP comes from any maps, and maps asked for their own kind agree with
/// `kernel_matrix`.
#[test]
fn kernel_maps_refuse_a_kind_they_were_not_built_for() {
    let spec = NetSpec::mlp(&MlpConfig::paper(8, Activation::Erf { m: 2.0 }));
    let g = Surrogate::FastSigmoid { k: 2.0 };
    let x = points();
    let sg = spec_network(&spec, KernelKind::SgNtk, g, Method::Auto).unwrap();
    let e = network_kernel_matrix(&sg, KernelKind::Ntk, &x, &x).unwrap_err();
    assert!(e.to_string().contains("built for"), "{e}");
    let own = network_kernel_matrix(&sg, KernelKind::SgNtk, &x, &x).unwrap();
    let kernels = Kernels::Spec {
        spec: &spec,
        surrogate: g,
        method: Method::Auto,
    };
    assert_eq!(
        own,
        kernel_matrix(kernels, KernelKind::SgNtk, &x, &x).unwrap()
    );
    assert!(network_kernel_matrix(&sg, KernelKind::Nngp, &x, &x).is_ok());
    let nngp = spec_network(&spec, KernelKind::Nngp, g, Method::Auto).unwrap();
    assert!(network_kernel_matrix(&nngp, KernelKind::SgNtk, &x, &x).is_err());
}
