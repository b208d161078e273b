//! Analytic (infinite-width) kernels and their GP predictions (docs/MATH.md §5–6; paper Thm. 2.1–2.4,
//! Remark E.3, Sec. C.2.1).
//!
//! The design follows neural-tangents' `stax`: a [`PairState`] — the covariance Σ(x,x') and the
//! (generalized) NTK value I(x,x'), at every position (pair) of a convolutional layer, beside
//! the points' variances Σ(x,x), Σ(x',x') — flows through a stack of [`LayerMap`]s. An MLP is
//! the fold
//!
//! ```text
//! Input → Dense(σw, σb) → Nonlinearity(φ, g1, g2) → Dense(σw, σb) → … → Dense(σw, σb, κ)
//! ```
//!
//! (κ: the last-layer scale, an output multiplier g = κ f that turns every kernel into κ² times
//! itself, docs/MATH.md §1/§5.)
//!
//! where the dense map is Σ ↦ σw² Σ + σb², I ↦ σw² I + Σ' and the elementwise map is
//! Λ ↦ E[φ(u) φ(v)], I ↦ I · E[g1(u) g2(v)] with (u, v) ~ N(0, Λ). Together they give the recursion
//! of docs/MATH.md §5 (S8–S20, Remark E.3):
//!
//! ```text
//! Σ^1 = σw²/n0 ⟨x, x'⟩ + σb²,   Σ^{l+1} = σw² E[φ(u)φ(v)] + σb²,
//! I^1 = Σ^1,                     I^{l+1} = Σ^{l+1} + I^l · σw² E[g1(u) g2(v)].
//! ```
//!
//! Convolutional networks add the maps of [`conv`] (convolution, flatten, global average
//! pooling) on position-indexed states ([`Pairs`]).
//!
//! The expectations use closed forms where (φ, g1, g2) has one ([`closed_form`]) and Gauss–Hermite
//! quadrature otherwise ([`quadrature`]). The first argument of every kernel carries g1 (the true
//! derivative for the NTK and the SG-NTK), the second g2 (the surrogate for the SG-NTK).

pub mod closed_form;
pub mod compose;
pub mod conv;
pub mod lanes;
pub mod layers;
pub mod matrix;
pub mod predict;
pub mod quadrature;
pub mod residual;
pub mod spec;

pub use closed_form::{pair_expectation, pair_expectations, ScalarFn};
pub use compose::{spec_network, Kernels};
pub use conv::{Conv, Flatten, GlobalAveragePool};
pub use layers::{Dense, LayerMap, Network, Nonlinearity, PairState, Pairs, Residual, Side};
pub use matrix::{
    kernel_layers, kernel_matrix, kernel_pair, network_kernel_matrix, set_progress, KernelProgress,
};
pub use predict::{
    check_positive_definite, gp_predict, nadaraya_watson, nngp_regression, predict, GpPrediction,
    TrainTime, MAX_CONDITION, VARIANCE_TOLERANCE,
};
pub use quadrature::{
    expect_1d, expect_2d, expect_2d_adaptive, expect_2d_smooth, GaussHermiteRule,
};
pub use residual::residual_network;
pub use spec::{KernelKind, KernelSpec, Method};

use thiserror::Error;

/// Errors of the analytic kernels and predictions. Messages are one line.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// Depth L = 0.
    #[error("depth must be at least 1 (got 0)")]
    ZeroDepth,
    /// A scale parameter out of range.
    #[error("invalid parameter {name} = {value}: {requirement}")]
    BadParameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it must satisfy.
        requirement: &'static str,
    },
    /// The two input matrices have different numbers of columns.
    #[error("input dimension mismatch: x1 has {0} columns, x2 has {1}")]
    DimensionMismatch(usize, usize),
    /// Inputs with zero columns.
    #[error("inputs have no columns (input dimension n0 = 0)")]
    EmptyInput,
    /// NaN or ±∞ in an input or kernel matrix.
    #[error("non-finite value {value} in {what} at ({row}, {col})")]
    NonFinite {
        /// Which matrix.
        what: &'static str,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// An infinite (or NaN) kernel value where the kernel is finite: its true value, or one on
    /// the way to it, exceeds the f64 range (e.g. κ = 1e200, or a depth at which I grows past
    /// 1.8e308).
    #[error("{what} overflows f64 at ({row}, {col}): {value} where the kernel is finite (only the sign NTK's singular entries are infinite); reduce the depth, kappa, sigma_w or the activation's or surrogate's scale")]
    Overflow {
        /// Which matrix.
        what: &'static str,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value (±∞).
        value: f64,
    },
    /// A variance a nonlinearity reads below 1.5e-154 = √(f64::MIN_POSITIVE), where products of
    /// two variances underflow, or 0 for a nonzero input (its scale lost to an underflow): with
    /// σb = 0, inputs of norm ~1e-77 and below.
    #[error(
        "{what} underflows f64 at ({row}, {col}): {value} for a nonzero input; scale the inputs up"
    )]
    Underflow {
        /// Which variances.
        what: &'static str,
        /// Row (the point).
        row: usize,
        /// Column (the map).
        col: usize,
        /// The value (0, or below 1.5e-154).
        value: f64,
    },
    /// A (φ, g1, g2) combination the chosen method cannot evaluate.
    #[error("unsupported combination: {0}")]
    Unsupported(String),
    /// Matrix shapes that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The symmetrized K(X, X) has a non-positive (or numerically zero) smallest eigenvalue.
    #[error("K(X, X) is not positive definite: smallest eigenvalue of the symmetrized matrix is {min_eigenvalue:e} (largest {max_eigenvalue:e}); repeated training points (or, for some kernels, points on one ray) make it singular: remove duplicates")]
    NotPositiveDefinite {
        /// Smallest eigenvalue of (K + Kᵀ)/2.
        min_eigenvalue: f64,
        /// Largest eigenvalue of (K + Kᵀ)/2.
        max_eigenvalue: f64,
    },
    /// K(X, X) has ±∞ entries: the singular sign NTK (Sec. 2.3) has no GP prediction.
    #[error("K(X, X) is singular: entry ({row}, {col}) is infinite (the sign NTK: +inf on its diagonal, -inf at antipodal points when sigma_b = 0): the GP does not exist; classify with `nadaraya_watson` (CLI: `sgntk predict --kind nw`), or use the SG-NTK with a surrogate")]
    SingularKernel {
        /// Row of the first infinite entry.
        row: usize,
        /// Column of the first infinite entry.
        col: usize,
    },
    /// K(X, X) is positive definite but too ill-conditioned for an accurate GP solve.
    #[error("K(X, X) is ill-conditioned: condition number ≈ {condition:.1e} exceeds {threshold:.0e}, so the GP solve would lose its accuracy to rounding; remove (nearly) duplicate training points")]
    IllConditioned {
        /// The estimate ‖K‖₂ / λ_min((K + Kᵀ)/2), an upper bound on σ_max/σ_min of K.
        condition: f64,
        /// The largest accepted estimate.
        threshold: f64,
    },
    /// A GP variance that is NaN, or negative beyond rounding.
    #[error("GP variance at test point {point} is {variance:e}, negative beyond rounding (scale {scale:e}); the kernel system is numerically unreliable")]
    NegativeVariance {
        /// Test point (row).
        point: usize,
        /// Γ(x, x).
        variance: f64,
        /// The size of the terms Γ(x, x) is computed from.
        scale: f64,
    },
    /// (Id − η K/d)^t overflows: discrete gradient descent diverges at this learning rate.
    #[error("(Id - lr K(X, X)/d)^t overflows at lr = {lr:e}: discrete gradient descent diverges on this kernel (it needs |1 - lr λ/d| < 1 for every eigenvalue λ of K(X, X)); use a smaller --lr")]
    Diverges {
        /// The learning rate.
        lr: f64,
    },
    /// A size that does not fit into memory (checked before allocating).
    #[error(transparent)]
    Memory(#[from] sgntk_model::MemoryError),
    /// A network parameter out of range (σw, σb, κ).
    #[error(transparent)]
    Network(#[from] sgntk_model::ModelError),
    /// The LU solve failed (exactly singular K(X, X)).
    #[error("K(X, X) is singular: LU solve failed (smallest eigenvalue of the symmetrized matrix {min_eigenvalue:e})")]
    SolveFailed {
        /// Smallest eigenvalue of (K + Kᵀ)/2.
        min_eigenvalue: f64,
    },
}
