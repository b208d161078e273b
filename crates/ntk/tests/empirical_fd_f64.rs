//! f64 on flex: the generic empirical NTK equals J·Jᵀ with J from central finite differences of
//! the network output. (Own test binary: the float dtype is configured once per process.)

use burn::tensor::{Device, FloatDType};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Ensemble, Mlp, MlpConfig};
use sgntk_ntk::empirical::{jacobian_kernel, KernelPair};

#[test]
fn generic_ntk_matches_finite_difference_jacobian() {
    let mut base = Device::flex();
    base.configure(FloatDType::F64).unwrap();
    let device = base.autodiff();
    let config = MlpConfig::new(vec![2, 5, 4, 1], Activation::Erf { m: 2.0 });
    let p = sgntk_model::init_member(&config, 5, 0);
    let mlp = Mlp(Ensemble::from_host(&config, std::slice::from_ref(&p), &device).unwrap());
    let x = DMatrix::from_row_slice(3, 2, &[0.0, 1.0, 0.8, -0.6, 1.5, 0.3]);
    let f = |q: &sgntk_model::HostParams| {
        Ensemble::from_host(&config, std::slice::from_ref(q), &device)
            .unwrap()
            .predict(&x)
            .unwrap()
            .remove(0)
    };
    let eps = 1e-6;
    let mut cols = vec![];
    for l in 0..config.depth() {
        let (r, c) = p[l].weight.shape();
        // parameter order of the generic path: W^l row-major, then b^l
        for i in 0..r {
            for j in 0..c {
                let (mut a, mut b) = (p.clone(), p.clone());
                a[l].weight[(i, j)] += eps;
                b[l].weight[(i, j)] -= eps;
                cols.push((f(&a) - f(&b)) / (2.0 * eps));
            }
        }
        for i in 0..r {
            let (mut a, mut b) = (p.clone(), p.clone());
            a[l].bias[i] += eps;
            b[l].bias[i] -= eps;
            cols.push((f(&a) - f(&b)) / (2.0 * eps));
        }
    }
    let jac = DMatrix::from_fn(3, cols.len(), |i, j| cols[j][(i, 0)]);
    let want = &jac * jac.transpose();
    let got = jacobian_kernel(&mlp, &x, &x, KernelPair::NTK).unwrap();
    let err = (&got - &want).amax() / want.amax();
    assert!(err < 1e-7, "generic NTK vs finite differences: {err:e}");
}
