//! Helpers shared by the kernel tests.

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
