//! Central finite differences over an MLP's host parameters, for the f64 tests on flex. The
//! kernel tests (`crates/ntk/tests`) include this file by path.
#![allow(dead_code)]

use std::ops::{Div, Sub};

use burn::tensor::{Device, FloatDType};
use sgntk_model::HostParams;

/// The flex device computing in f64, with autodiff. The float dtype is configured once per
/// process: a test using it needs its own test binary.
pub fn f64_flex_autodiff() -> Device {
    let mut base = Device::flex();
    base.configure(FloatDType::F64).unwrap();
    base.autodiff()
}

/// The number of parameters of `p`: per layer, the weights and one bias per row.
fn param_count(p: &HostParams) -> usize {
    p.iter()
        .map(|l| l.weight.nrows() * l.weight.ncols() + l.weight.nrows())
        .sum()
}

/// Parameter `k` of `p` in the generic path's order: per layer, W row-major, then b.
fn param_mut(p: &mut HostParams, k: usize) -> &mut f64 {
    let mut k_left = k;
    for layer in p.iter_mut() {
        let (rows, cols) = layer.weight.shape();
        if k_left < rows * cols {
            return &mut layer.weight[(k_left / cols, k_left % cols)];
        }
        k_left -= rows * cols;
        if k_left < rows {
            return &mut layer.bias[k_left];
        }
        k_left -= rows;
    }
    panic!("no parameter {k}");
}

/// Every parameter of `p`, in the order of [`param_mut`].
pub fn flatten(p: &HostParams) -> Vec<f64> {
    let mut p = p.clone();
    (0..param_count(&p))
        .map(|k| *param_mut(&mut p, k))
        .collect()
}

/// The central differences (f(p + ε e_k) − f(p − ε e_k)) / 2ε for every parameter k of `p`, in
/// the order of [`param_mut`].
pub fn central_differences<T>(p: &HostParams, eps: f64, f: impl Fn(&HostParams) -> T) -> Vec<T>
where
    T: Sub<Output = T> + Div<f64, Output = T>,
{
    (0..param_count(p))
        .map(|k| {
            let (mut plus, mut minus) = (p.clone(), p.clone());
            *param_mut(&mut plus, k) += eps;
            *param_mut(&mut minus, k) -= eps;
            (f(&plus) - f(&minus)) / (2.0 * eps)
        })
        .collect()
}
