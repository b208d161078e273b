//! The paper's toy task (SPEC §7): inputs on the unit circle and a polynomial target.
//!
//! Following the authors' released code, x(α) = (sin α, cos α), the test grid has 100 angles
//! α_i = 2πi/100 − π, and kernel slices are taken against α = 0, i.e. x = (0, 1).

use std::f64::consts::PI;

use nalgebra::DMatrix;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Default seed of the training angles of Fig. 1/2 and Fig. 3.
pub const DEFAULT_DATA_SEED: u64 = 2024;

/// x(α) = (sin α, cos α), one row per angle.
pub fn circle_points(alphas: &[f64]) -> DMatrix<f64> {
    DMatrix::from_fn(alphas.len(), 2, |i, j| {
        if j == 0 {
            alphas[i].sin()
        } else {
            alphas[i].cos()
        }
    })
}

/// The target f(x0, x1) = 4 x0 x1² − 0.8 x0³ + 1.2 x1² − 0.8 x0² x1 (Fig. B.1).
pub fn target(x0: f64, x1: f64) -> f64 {
    4.0 * x0 * x1 * x1 - 0.8 * x0.powi(3) + 1.2 * x1 * x1 - 0.8 * x0 * x0 * x1
}

/// Targets for every row of `x` (a column vector as a `d × 1` matrix).
pub fn targets(x: &DMatrix<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(x.nrows(), 1, |i, _| target(x[(i, 0)], x[(i, 1)]))
}

/// The 100-angle test grid α_i = 2πi/100 − π, i = 0 … 99.
pub fn test_grid(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 2.0 * PI * i as f64 / n as f64 - PI)
        .collect()
}

/// `count` angles uniform in [−π, π) from `seed`, sorted (Fig. 1/2 training set).
pub fn uniform_angles(count: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a: Vec<f64> = (0..count).map(|_| rng.random_range(-PI..PI)).collect();
    a.sort_by(|p, q| p.total_cmp(q));
    a
}

/// `count` of the `grid` angles without replacement from `seed`, sorted (Fig. 3 training set).
pub fn grid_subset(grid: &[f64], count: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = sample(&mut rng, grid.len(), count.min(grid.len())).into_vec();
    idx.sort_unstable();
    idx.into_iter().map(|i| grid[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_points() {
        let g = test_grid(100);
        assert_eq!(g.len(), 100);
        assert!((g[0] + PI).abs() < 1e-15);
        assert!((g[50]).abs() < 1e-15);
        let x = circle_points(&[0.0, PI / 2.0]);
        assert!((x[(0, 0)]).abs() < 1e-15 && (x[(0, 1)] - 1.0).abs() < 1e-15);
        assert!((x[(1, 0)] - 1.0).abs() < 1e-15);
        // f(0, 1) = 1.2; f(1, 0) = -0.8
        assert!((target(0.0, 1.0) - 1.2).abs() < 1e-15);
        assert!((target(1.0, 0.0) + 0.8).abs() < 1e-15);
        let a = uniform_angles(15, 1);
        assert_eq!(a, uniform_angles(15, 1));
        assert!(a.iter().all(|v| (-PI..PI).contains(v)));
        let s = grid_subset(&g, 15, 3);
        assert_eq!(s.len(), 15);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }
}
