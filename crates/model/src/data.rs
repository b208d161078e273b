//! The paper's toy task (docs/MATH.md §7): inputs on the unit circle and a polynomial target; and
//! a real one, the handwritten digits ([`digits()`], module `digits`).
//!
//! Following the authors' released code, x(α) = (sin α, cos α), the test grid has 100 angles
//! α_i = 2πi/100 − π, and kernel slices are taken against α = 0, i.e. x = (0, 1).

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

mod digits;
pub use digits::{
    argmax_rows, centered_one_hot, digits, standardize_rows, Digits, DigitsSet, DIGITS_CLASSES,
    DIGITS_IMAGES, DIGITS_PIXELS, DIGITS_TARGET,
};

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

/// The 15 training angles of the paper's Fig. 1, 2 and B.1, as the authors' published code draws
/// them (JAX 0.4.26: `PRNGKey(2)`, split into 3, `uniform(second key, (15,), -π, π)`; float32
/// values widened to f64, in the order drawn). Provenance: `crates/experiments/data/paper-data.json`.
pub const PAPER_TRAIN_ANGLES: [f64; 15] = [
    -1.1745926141738892,
    -2.4250686168670654,
    -2.4657034873962402,
    1.0474662780761719,
    1.8972047567367554,
    -2.9864375591278076,
    -0.06456051766872406,
    -1.7713344097137451,
    1.7098395824432373,
    1.8946220874786377,
    0.4341278076171875,
    3.052441358566284,
    -0.42121556401252747,
    2.8263049125671387,
    1.436213493347168,
];

/// The 15 indices into the 100-angle test grid of the paper's Fig. 3 and B.2 (JAX 0.4.26:
/// `PRNGKey(3)`, split into 3, `choice(second key, arange(100), (15,), replace=False)`).
pub const PAPER_GRID_INDICES: [usize; 15] =
    [54, 69, 18, 41, 23, 50, 65, 82, 63, 3, 0, 4, 58, 79, 95];

/// Where the training points of a figure come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The paper's own 15 + 15 points ([`PAPER_TRAIN_ANGLES`], [`PAPER_GRID_INDICES`]).
    Paper,
    /// Points drawn from a seed ([`uniform_angles`], [`grid_subset`]).
    #[default]
    Seeded,
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataSource::Paper => "paper",
            DataSource::Seeded => "seeded",
        })
    }
}

impl FromStr for DataSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "paper" => Ok(DataSource::Paper),
            "seeded" => Ok(DataSource::Seeded),
            _ => Err(format!(
                "unknown data source `{}` (use paper or seeded)",
                crate::error::excerpt(s)
            )),
        }
    }
}

/// The training angles of Fig. 1/2/B.1, sorted: the paper's 15 or `count` seeded uniform angles.
pub fn train_angles(source: DataSource, count: usize, seed: u64) -> Result<Vec<f64>, String> {
    match source {
        DataSource::Seeded => Ok(uniform_angles(count, seed)),
        DataSource::Paper => {
            if count != PAPER_TRAIN_ANGLES.len() {
                return Err(format!(
                    "data = paper has {} training points, not {count}",
                    PAPER_TRAIN_ANGLES.len()
                ));
            }
            let mut a = PAPER_TRAIN_ANGLES.to_vec();
            a.sort_by(|p, q| p.total_cmp(q));
            Ok(a)
        }
    }
}

/// The training angles of Fig. 3/B.2 taken from `grid`, sorted: the paper's 15 grid points (the
/// grid must be the paper's 100 angles) or `count` seeded ones.
pub fn train_grid_angles(
    source: DataSource,
    grid: &[f64],
    count: usize,
    seed: u64,
) -> Result<Vec<f64>, String> {
    match source {
        DataSource::Seeded => Ok(grid_subset(grid, count, seed)),
        DataSource::Paper => {
            if count != PAPER_GRID_INDICES.len() || grid.len() != 100 {
                return Err(format!(
                    "data = paper uses 15 points of the 100-angle grid, not {count} of {}",
                    grid.len()
                ));
            }
            let mut idx = PAPER_GRID_INDICES.to_vec();
            idx.sort_unstable();
            Ok(idx.into_iter().map(|i| grid[i]).collect())
        }
    }
}

/// The circle x(α) embedded in the space of inputs with `n0` values (images, signals), one row
/// per angle: x(α) = √n0 · (sin α · a + cos α · b), with a, b an orthonormal pair of directions
/// drawn from `seed` (Gram–Schmidt of two N(0, I) vectors; `n0` ≥ 2). An isometry of the paper's
/// circle scaled by √n0, so every input has mean square 1 per value and
/// x(α) · x(β) / n0 = cos(α − β) (`figure cnn`).
pub fn embedded_circle(alphas: &[f64], n0: usize, seed: u64) -> DMatrix<f64> {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || {
        nalgebra::DVector::from_fn(n0, |_, _| {
            <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng)
        })
    };
    let a = draw().normalize();
    let b = draw();
    let b = (&b - &a * a.dot(&b)).normalize();
    let scale = (n0 as f64).sqrt();
    DMatrix::from_fn(alphas.len(), n0, |i, j| {
        scale * (alphas[i].sin() * a[j] + alphas[i].cos() * b[j])
    })
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

    #[test]
    fn the_embedded_circle_is_an_isometry_of_the_circle() {
        // x(α) · x(β) / n0 = cos(α − β) = circle_points' inner product, for every pair.
        let alphas = [-3.0, -1.0, 0.0, 0.5, 2.0];
        let x = embedded_circle(&alphas, 64, 9);
        let c = circle_points(&alphas);
        let gram = &x * x.transpose() / 64.0;
        let want = &c * c.transpose();
        assert!((gram - want).abs().max() < 1e-12);
        assert_eq!(x, embedded_circle(&alphas, 64, 9));
        assert_ne!(x, embedded_circle(&alphas, 64, 10));
    }

    #[test]
    fn paper_points_are_the_published_ones() {
        // The grid indices give exactly the angles the authors' code lists for Fig. 3.
        let g = test_grid(100);
        let a = train_grid_angles(DataSource::Paper, &g, 15, 0).unwrap();
        assert_eq!(a.len(), 15);
        assert_eq!(a[0], -PI); // index 0
        assert!(a.contains(&0.0)); // index 50
        assert!(
            (a.iter().find(|v| **v > 0.25 && **v < 0.26).unwrap() - 0.25132741228718336).abs()
                < 1e-15
        );
        let b = train_angles(DataSource::Paper, 15, 0).unwrap();
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.contains(&-1.1745926141738892) && b.contains(&3.052441358566284));
        // f32 values widened: every angle is exactly representable in f32.
        assert!(PAPER_TRAIN_ANGLES.iter().all(|v| (*v as f32) as f64 == *v));
        assert!(train_angles(DataSource::Paper, 14, 0).is_err());
        assert!(train_grid_angles(DataSource::Paper, &test_grid(50), 15, 0).is_err());
        assert_eq!("paper".parse::<DataSource>(), Ok(DataSource::Paper));
        assert!("papr".parse::<DataSource>().is_err());
    }
}
