//! f64 on the flex backend: GD gradients against central finite differences of the loss.
//! (Own test binary: the float dtype is configured once per process.)

use burn::tensor::{Device, FloatDType};
use sgntk_model::{data, gradients, Activation, Ensemble, LearningRule, MlpConfig, TrainSet};

fn loss(config: &MlpConfig, p: &sgntk_model::HostParams, set: &TrainSet, device: &Device) -> f64 {
    let ens = Ensemble::from_host(config, std::slice::from_ref(p), device).unwrap();
    let f = ens.predict(&set.x).unwrap().remove(0);
    (f - &set.y).norm_squared() / (2.0 * set.x.nrows() as f64)
}

#[test]
fn gd_gradient_matches_central_differences_in_f64_on_flex() {
    let mut base = Device::flex();
    base.configure(FloatDType::F64).unwrap();
    let device = base.autodiff();
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
    let eps = 1e-6;
    let mut worst: f64 = 0.0;
    for l in 0..config.depth() {
        let (r, c) = p[l].weight.shape();
        for i in 0..r {
            for j in 0..c {
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[l].weight[(i, j)] += eps;
                pm[l].weight[(i, j)] -= eps;
                let fd = (loss(&config, &pp, &set, &device) - loss(&config, &pm, &set, &device))
                    / (2.0 * eps);
                worst = worst.max((fd - g[0][l].weight[(i, j)]).abs() / fd.abs().max(1e-3));
            }
            let (mut pp, mut pm) = (p.clone(), p.clone());
            pp[l].bias[i] += eps;
            pm[l].bias[i] -= eps;
            let fd = (loss(&config, &pp, &set, &device) - loss(&config, &pm, &set, &device))
                / (2.0 * eps);
            worst = worst.max((fd - g[0][l].bias[i]).abs() / fd.abs().max(1e-3));
        }
    }
    assert!(worst < 1e-6, "worst relative FD error {worst:e}");
}
