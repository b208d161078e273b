//! Parameter gradients of the surrogate op against independent computations.

use burn::tensor::Tensor;
use nalgebra::{DMatrix, DVector};
use sgntk_model::{
    data, gradients, matrix_to_tensor, Activation, BackendKind, Ensemble, HostParams, LearningRule,
    MlpConfig, Surrogate, TrainSet,
};

fn circle_set(n: usize) -> TrainSet {
    let x = data::circle_points(&data::uniform_angles(n, 11));
    let y = data::targets(&x);
    TrainSet { x, y }
}

fn rel_err(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm() / b.norm().max(1e-30)
}

fn max_rel(a: &[HostParams], b: &[HostParams]) -> f64 {
    let mut worst: f64 = 0.0;
    for (pa, pb) in a.iter().zip(b) {
        for (la, lb) in pa.iter().zip(pb) {
            worst = worst.max(rel_err(&la.weight, &lb.weight));
            let ba = DMatrix::from_column_slice(la.bias.len(), 1, la.bias.as_slice());
            let bb = DMatrix::from_column_slice(lb.bias.len(), 1, lb.bias.as_slice());
            worst = worst.max(rel_err(&ba, &bb));
        }
    }
    worst
}

/// SGL with surrogate `true` equals burn's own autodiff through `erf` (not our op).
#[test]
fn true_surrogate_matches_burn_autodiff_of_erf_network() {
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        let device = backend.device().unwrap();
        let m = 2.0;
        let config = MlpConfig::new(vec![2, 24, 16, 1], Activation::Erf { m });
        let ens = Ensemble::init(&config, 3, 5, &device).unwrap();
        let set = circle_set(7);
        let (_, ours) = gradients(&ens, &set, LearningRule::Sgl(Surrogate::True)).unwrap();

        // Reference: the same forward written with burn's erf, differentiated by burn.
        let x = matrix_to_tensor(&set.x, &device).inner();
        let y = matrix_to_tensor(&set.y, &device).inner();
        let leaves: Vec<(Tensor<3>, Tensor<2>)> = ens
            .layers()
            .iter()
            .map(|l| {
                (
                    Tensor::from_inner(l.weight.clone().inner()).require_grad(),
                    Tensor::from_inner(l.bias.clone().inner()).require_grad(),
                )
            })
            .collect();
        let [d, n0] = x.dims();
        let mut a: Tensor<3> = x.unsqueeze_dim::<3>(0).expand([3, d, n0]);
        let mut f = None;
        for (l, (w, b)) in leaves.iter().enumerate() {
            let h = a
                .clone()
                .matmul(w.clone().swap_dims(1, 2))
                .mul_scalar(1.0 / (config.widths[l] as f64).sqrt())
                + b.clone().unsqueeze_dim::<3>(1).mul_scalar(0.1);
            if l + 1 == leaves.len() {
                f = Some(h);
            } else {
                a = h.mul_scalar(m).erf();
            }
        }
        let diff = f.unwrap() - y.unsqueeze_dim::<3>(0);
        let grads = (diff.clone() * diff)
            .sum()
            .mul_scalar(1.0 / (2.0 * d as f64))
            .backward();
        let mut reference = ens.clone();
        for (r, (w, b)) in reference.layers_mut().iter_mut().zip(&leaves) {
            r.weight = w.grad(&grads).unwrap();
            r.bias = b.grad(&grads).unwrap();
        }
        let err = max_rel(&ours, &reference.to_host());
        assert!(err < 1e-5, "{backend}: relative gradient error {err:e}");
    }
}

/// Independent host backprop (f64) with derivative `g` at every hidden layer: the quasi-Jacobian
/// of docs/MATH.md §4 (δ^L = 1, δ^l = (σw/√n_l W^{l+1})ᵀ δ^{l+1} ⊙ g(h^l)), summed into ∇L.
fn host_gradient(
    config: &MlpConfig,
    p: &HostParams,
    set: &TrainSet,
    g: &dyn Fn(f64) -> f64,
) -> HostParams {
    let depth = config.depth();
    let d = set.x.nrows() as f64;
    let mut grad: HostParams = p
        .iter()
        .map(|l| sgntk_model::HostLayer {
            weight: DMatrix::zeros(l.weight.nrows(), l.weight.ncols()),
            bias: DVector::zeros(l.bias.len()),
        })
        .collect();
    for i in 0..set.x.nrows() {
        let mut acts = vec![set.x.row(i).transpose()];
        let mut pre = vec![];
        for (l, layer) in p.iter().enumerate() {
            let c = config.sigma_w / (config.widths[l] as f64).sqrt();
            let h = &layer.weight * acts.last().unwrap() * c + &layer.bias * config.sigma_b;
            acts.push(h.map(|z| config.activation.eval(z)));
            pre.push(h);
        }
        let f = pre[depth - 1][0];
        let mut delta = DVector::from_element(1, (f - set.y[(i, 0)]) / d);
        for l in (0..depth).rev() {
            let c = config.sigma_w / (config.widths[l] as f64).sqrt();
            grad[l].weight += &delta * acts[l].transpose() * c;
            grad[l].bias += &delta * config.sigma_b;
            if l > 0 {
                let back = p[l].weight.transpose() * &delta * c;
                delta = back.component_mul(&pre[l - 1].map(g));
            }
        }
    }
    grad
}

/// With a genuine surrogate the gradient is the quasi-Jacobian one, and differs from GD's.
#[test]
fn surrogate_gradient_equals_hand_computed_quasi_jacobian() {
    let device = BackendKind::Flex.device().unwrap();
    let act = Activation::Erf { m: 2.0 };
    let config = MlpConfig::new(vec![2, 5, 4, 1], act);
    let params = vec![sgntk_model::init_member(&config, 9, 0)];
    let ens = Ensemble::from_host(&config, &params, &device).unwrap();
    let set = circle_set(6);
    for g in ["fast-sigmoid:2", "erf-prime", "triangle:1.5", "atan:1"] {
        let sur: Surrogate = g.parse().unwrap();
        let (_, sgl) = gradients(&ens, &set, LearningRule::Sgl(sur)).unwrap();
        let want_sgl = host_gradient(&config, &params[0], &set, &|z| sur.eval(&act, z));
        let err = max_rel(&sgl, std::slice::from_ref(&want_sgl));
        assert!(err < 1e-5, "{g}: SGL gradient error {err:e}");
        let (_, gd) = gradients(&ens, &set, LearningRule::Gd).unwrap();
        let want_gd = host_gradient(&config, &params[0], &set, &|z| act.derivative(z));
        assert!(max_rel(&gd, &[want_gd]) < 1e-5);
        // the first layer's gradient genuinely differs between GD and SGL
        assert!(
            rel_err(&sgl[0][0].weight, &gd[0][0].weight) > 1e-2,
            "{g}: SGL ≈ GD?"
        );
        // the last layer does not see the surrogate at all
        assert!(rel_err(&sgl[0][2].weight, &gd[0][2].weight) < 1e-6);
    }
}
