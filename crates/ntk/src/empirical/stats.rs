//! Statistics over ensembles of kernels (Fig. 1, 2, B.3, B.4).

use sgntk_model::nalgebra::DMatrix;

/// Element-wise mean over members. Panics never: an empty slice gives an empty matrix.
pub fn ensemble_mean(kernels: &[DMatrix<f64>]) -> DMatrix<f64> {
    let Some(first) = kernels.first() else {
        return DMatrix::zeros(0, 0);
    };
    let mut sum = DMatrix::zeros(first.nrows(), first.ncols());
    for k in kernels {
        sum += k;
    }
    sum / kernels.len() as f64
}

/// Element-wise sample standard deviation over members (0 for fewer than two members).
pub fn ensemble_spread(kernels: &[DMatrix<f64>]) -> DMatrix<f64> {
    let mean = ensemble_mean(kernels);
    if kernels.len() < 2 {
        return mean.map(|_| 0.0);
    }
    let mut ss = mean.map(|_| 0.0);
    for k in kernels {
        ss += (k - &mean).map(|v| v * v);
    }
    (ss / (kernels.len() - 1) as f64).map(f64::sqrt)
}

/// Mean squared difference over all entries: (1/#) Σ (a − b)² (the MSE of Fig. B.3/B.4).
pub fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "mse of matrices of different shapes");
    (a - b).norm_squared() / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_spread_mse_small_case() {
        let a = DMatrix::from_row_slice(1, 2, &[1.0, 2.0]);
        let b = DMatrix::from_row_slice(1, 2, &[3.0, 6.0]);
        let m = ensemble_mean(&[a.clone(), b.clone()]);
        assert_eq!(m, DMatrix::from_row_slice(1, 2, &[2.0, 4.0]));
        let s = ensemble_spread(&[a.clone(), b.clone()]);
        assert!((s[(0, 0)] - 2f64.sqrt()).abs() < 1e-15 && (s[(0, 1)] - 8f64.sqrt()).abs() < 1e-15);
        assert!((mse(&a, &b) - 10.0).abs() < 1e-15);
    }
}
