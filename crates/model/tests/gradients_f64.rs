//! f64 on the flex backend: GD gradients against central finite differences of the loss.
//! (Own test binary: the float dtype is configured once per process.)

mod common;
use common::finite_differences::{central_differences, f64_flex_autodiff, flatten};

use burn::tensor::Device;
use sgntk_model::{data, gradients, Activation, Ensemble, LearningRule, MlpConfig, TrainSet};

fn loss(config: &MlpConfig, p: &sgntk_model::HostParams, set: &TrainSet, device: &Device) -> f64 {
    let ens = Ensemble::from_host(config, std::slice::from_ref(p), device).unwrap();
    let f = ens.predict(&set.x).unwrap().remove(0);
    (f - &set.y).norm_squared() / (2.0 * set.x.nrows() as f64)
}

#[test]
fn gd_gradient_matches_central_differences_in_f64_on_flex() {
    let device = f64_flex_autodiff();
    let config = MlpConfig::new(vec![2, 6, 5, 1], Activation::Erf { m: 2.0 });
    let p = sgntk_model::init_member(&config, 3, 0);
    let x = data::circle_points(&data::uniform_angles(5, 2));
    let set = TrainSet {
        y: data::targets(&x),
        x,
    };
    let ens = Ensemble::from_host(&config, std::slice::from_ref(&p), &device).unwrap();
    let (l0, g) = gradients(&ens, &set, LearningRule::Gd).unwrap();
    assert!((l0[0] - loss(&config, &p, &set, &device)).abs() < 1e-12);
    let fd = central_differences(&p, 1e-6, |q| loss(&config, q, &set, &device));
    let analytic = flatten(&g[0]);
    assert_eq!(fd.len(), analytic.len());
    let worst = fd
        .iter()
        .zip(&analytic)
        .map(|(fd, g)| (fd - g).abs() / fd.abs().max(1e-3))
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "worst relative FD error {worst:e}");
}
