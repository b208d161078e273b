//! Helpers shared by the kernel tests (each test binary uses some of them).
#![allow(dead_code)]

/// Asserts that `mse` (one value per width in `widths`) falls like 1/width: the least-squares
/// slope of log MSE against log width lies in [-1.3, -0.7]. Prints the fit under `what`.
pub fn assert_mse_falls_like_one_over_width(what: &str, widths: &[usize], mse: &[f64]) {
    assert_eq!(widths.len(), mse.len(), "{what}");
    let lx: Vec<f64> = widths.iter().map(|&n| (n as f64).ln()).collect();
    let ly: Vec<f64> = mse.iter().map(|v| v.ln()).collect();
    let count = lx.len() as f64;
    let (mx, my) = (
        lx.iter().sum::<f64>() / count,
        ly.iter().sum::<f64>() / count,
    );
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    let slope = sxy / sxx;
    println!("{what}: MSE {mse:?}, log-log slope {slope:.3}");
    assert!(
        (-1.3..=-0.7).contains(&slope),
        "{what}: log-log slope {slope:.3}, MSE {mse:?}"
    );
}

/// Asserts that the sample covariance of scalar network outputs (one `points × 1` matrix per
/// network, mean 0) equals `sigma` within 4 standard errors at every pair of points; the standard
/// error of a sample covariance is √((Σ_ii Σ_jj + Σ_ij²)/N) for N networks.
pub fn assert_covariance_within_4_se(
    outputs: &[sgntk_model::nalgebra::DMatrix<f64>],
    sigma: &sgntk_model::nalgebra::DMatrix<f64>,
) {
    let nets = outputs.len() as f64;
    for i in 0..sigma.nrows() {
        for j in i..sigma.ncols() {
            let cov = outputs.iter().map(|f| f[(i, 0)] * f[(j, 0)]).sum::<f64>() / nets;
            let se = ((sigma[(i, i)] * sigma[(j, j)] + sigma[(i, j)].powi(2)) / nets).sqrt();
            assert!(
                (cov - sigma[(i, j)]).abs() < 4.0 * se,
                "Σ({i},{j}) = {} vs Monte-Carlo {cov} (se {se})",
                sigma[(i, j)]
            );
        }
    }
}
