//! Typed errors of the model crate. Every message is one line that names the problem.

use thiserror::Error;

/// A spec string (`erf:5`, `fast-sigmoid:25`, …) that could not be parsed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// The activation name is not one of `erf:m`, `sign`, `step`, `relu`, `tanh`, `identity`.
    #[error("unknown activation `{token}` (expected erf:M, sign, step, relu, tanh or identity)")]
    UnknownActivation {
        /// The offending token.
        token: String,
    },
    /// The surrogate name is not in the table of docs/MATH.md §2.
    #[error("unknown surrogate `{token}` (expected erf-prime:a, fast-sigmoid:k, atan:a, sigmoid:k, triangle:w, boxcar:w, straight-through or true)")]
    UnknownSurrogate {
        /// The offending token.
        token: String,
    },
    /// The parameter after `:` is not a number.
    #[error("in `{spec}`: parameter `{token}` is not a number")]
    BadParameter {
        /// The whole spec.
        spec: String,
        /// The offending token.
        token: String,
    },
    /// The parameter is ≤ 0 or not finite.
    #[error("in `{spec}`: parameter {value} must be a finite number > 0")]
    NonPositiveParameter {
        /// The whole spec.
        spec: String,
        /// The offending value.
        value: f64,
    },
    /// `name:` with nothing after the colon (write `name` for the default, or `name:VALUE`).
    #[error("in `{spec}`: the parameter after `:` is empty (write `{name}:VALUE`, or `{name}` for the default)")]
    EmptyParameter {
        /// The whole spec.
        spec: String,
        /// The family name.
        name: String,
    },
    /// A parameter was given to a family that takes none.
    #[error("in `{spec}`: `{name}` takes no parameter")]
    UnexpectedParameter {
        /// The whole spec.
        spec: String,
        /// The family name.
        name: String,
    },
}

/// Errors from building, evaluating or training networks.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// A spec string was invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A layer width (or input/output dimension) is zero.
    #[error("layer {layer} has width 0; every width must be ≥ 1")]
    ZeroWidth {
        /// Index into the widths n_0 … n_L.
        layer: usize,
    },
    /// Fewer than two widths (no layer at all).
    #[error("a network needs at least one layer (got {count} widths, need ≥ 2)")]
    NoLayers {
        /// Number of widths given.
        count: usize,
    },
    /// σw must be positive.
    #[error("sigma_w = {0} must be a finite number > 0")]
    NonPositiveSigmaW(f64),
    /// σb must be non-negative.
    #[error("sigma_b = {0} must be a finite number ≥ 0")]
    NegativeSigmaB(f64),
    /// The last-layer scale κ must be positive.
    #[error("last-layer scale kappa = {0} must be a finite number > 0")]
    NonPositiveKappa(f64),
    /// The learning rate must be positive.
    #[error("learning rate {0} must be a finite number > 0")]
    NonPositiveLearningRate(f64),
    /// An ensemble needs at least one member.
    #[error("an ensemble needs at least one network (got 0)")]
    EmptyEnsemble,
    /// Inputs or targets contain NaN or ±∞.
    #[error("{what} contains a non-finite value at row {row}, column {col}")]
    NonFiniteData {
        /// "inputs" or "targets".
        what: &'static str,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
    },
    /// A tensor or matrix has the wrong shape.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being checked.
        what: String,
        /// The expected shape.
        expected: String,
        /// The shape given.
        got: String,
    },
    /// The loss became NaN or infinite during training.
    #[error(
        "training diverged at step {step}: loss = {loss}; try a learning rate smaller than {lr}"
    )]
    NonFiniteLoss {
        /// The step at which the loss was non-finite.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The learning rate in use.
        lr: f64,
    },
    /// A model hyper-parameter out of range.
    #[error("{name} = {value} {rule}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A value that the f32 arithmetic of training cannot represent (it overflows, or underflows
    /// to 0, once rounded to f32, directly or in a constant derived from it).
    #[error("{name} = {value:e} does not fit the f32 arithmetic of training: {rule}")]
    NotRepresentableInF32 {
        /// The setting or data.
        name: String,
        /// Its value.
        value: f64,
        /// What it must satisfy.
        rule: &'static str,
    },
    /// Inputs or targets whose value overflows the backend's f32 tensors.
    #[error("{what} value {value:e} at row {row}, column {col} overflows f32 (the precision of the computation; |x| must stay below 3.4e38)")]
    DataOverflowsF32 {
        /// "inputs" or "targets".
        what: &'static str,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
        /// The value.
        value: f64,
    },
    /// Parameters became NaN or ±∞ (possibly while the loss stayed finite: sign(NaN) hides a
    /// NaN hidden layer from the output).
    #[error("training diverged by step {step}: the parameters of layer {layer} of network {member} are not finite (NaN or ±inf); try a smaller learning rate or surrogate parameter")]
    NonFiniteParameters {
        /// Steps done when the check ran.
        step: usize,
        /// Layer l (1-based).
        layer: usize,
        /// Member k of the ensemble.
        member: usize,
    },
    /// A size that does not fit into memory (checked before allocating).
    #[error(transparent)]
    Memory(#[from] crate::limits::MemoryError),
    /// A [`crate::train::Tick`] stopped training (e.g. Ctrl-C in the Python package).
    #[error("training interrupted after {step} steps")]
    Interrupted {
        /// Steps done.
        step: usize,
    },
    /// A backend could not be started or is not compiled in.
    #[error("backend `{backend}`: {reason}")]
    Backend {
        /// Backend name.
        backend: String,
        /// What went wrong and how to fix it.
        reason: String,
    },
}
