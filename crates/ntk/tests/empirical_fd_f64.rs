//! f64 on flex: the generic empirical NTK equals J·Jᵀ with J from central finite differences of
//! the network output. (Own test binary: the float dtype is configured once per process.)

#[path = "../../model/tests/common/finite_differences.rs"]
mod finite_differences;
use finite_differences::{central_differences, f64_flex_autodiff};

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Ensemble, Mlp, MlpConfig};
use sgntk_ntk::empirical::{jacobian_kernel, DerivativePair};

#[test]
fn generic_ntk_matches_finite_difference_jacobian() {
    let device = f64_flex_autodiff();
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
    // columns in the parameter order of the generic path: per layer, W^l row-major, then b^l
    let cols = central_differences(&p, 1e-6, f);
    let jac = DMatrix::from_fn(3, cols.len(), |i, j| cols[j][(i, 0)]);
    let want = &jac * jac.transpose();
    let got = jacobian_kernel(&mlp, &x, &x, DerivativePair::NTK).unwrap();
    let err = (&got - &want).amax() / want.amax();
    assert!(err < 1e-7, "generic NTK vs finite differences: {err:e}");
}
