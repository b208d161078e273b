//! Convolutional layers of a [`crate::NetSpec`]: the shape of a layer's input (positions ×
//! channels), the padding rule, and the finite forward on burn tensors.
//!
//! A layer input is `[H, W, C]` (2-D), `[L, C]` (1-D) or `[n]` (flat). Hidden states of an
//! ensemble of M members (M = 1 for one network) are stored as `[M, d, C·positions]` tensors in
//! channel-major order (burn's NCHW flattened per member), so a convolution is a reshape to
//! `[d, M·C, positions]`, one grouped `burn::tensor::module::conv1d`/`conv2d` with the members as
//! its M groups, and a reshape back. Inputs (CSV rows)
//! and the output of `flatten` are row-major (h, w, c) — the NHWC layout of JAX and
//! neural-tangents (docs/MATH.md §1 for the NTK parameterization):
//!
//! ```text
//! Conv:  h'[p, c'] = σw/√(C·F) Σ_{q, c} W[c', c, q] h[p + q − pad, c] + σb b[c']
//!        (F = Π filter, W, b i.i.d. N(0, 1); h = 0 outside the input for "same"/"valid",
//!         indices modulo the input size for "circular")
//! Flatten:              the C·positions values in (h, w, c) order
//! GlobalAveragePool:    h'[c] = (1/positions) Σ_p h[p, c]
//! ```
//!
//! Padding (stride 1) is XLA's: "valid" reads only inside the input (output size n − f + 1),
//! "same" pads f − 1 zeros, ⌊(f − 1)/2⌋ before and the rest after (output size n), "circular"
//! wraps the same amounts around (output size n) — as neural-tangents'
//! `stax.Conv(..., padding='SAME'|'VALID'|'CIRCULAR')`.

use std::fmt;

use burn::tensor::module::{conv1d, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// How a convolution treats the border (stride 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Zeros around the input, output size = input size (the extra zero after for even filters).
    Same,
    /// No padding: output size = input size − filter + 1.
    Valid,
    /// Periodic: the input wraps around, output size = input size.
    Circular,
}

impl Padding {
    /// `(before, after, output size)` along one axis of size `n` for a filter of size `f`, or
    /// `None` when the filter does not fit ("valid" and "circular" need f ≤ n).
    pub fn along(self, n: usize, f: usize) -> Option<(usize, usize, usize)> {
        match self {
            Padding::Valid => (f <= n).then(|| (0, 0, n + 1 - f)),
            Padding::Same => Some(((f - 1) / 2, f - 1 - (f - 1) / 2, n)),
            Padding::Circular => (f <= n).then(|| ((f - 1) / 2, f - 1 - (f - 1) / 2, n)),
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Padding::Same => "same",
            Padding::Valid => "valid",
            Padding::Circular => "circular",
        })
    }
}

/// The shape of a layer's input or output: spatial sizes (empty when flat) and channels (the
/// width when flat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Spatial sizes, e.g. `[H, W]`; empty for a flat vector.
    pub spatial: Vec<usize>,
    /// Channels per position (the width of a flat vector).
    pub channels: usize,
}

impl Shape {
    /// A flat vector of `width` values.
    pub fn flat(width: usize) -> Self {
        Shape {
            spatial: Vec::new(),
            channels: width,
        }
    }

    /// `[n]` (flat), `[L, C]` or `[H, W, C]`.
    pub fn from_dims(dims: &[usize]) -> Self {
        let (channels, spatial) = dims.split_last().map_or((0, &[][..]), |(c, s)| (*c, s));
        Shape {
            spatial: spatial.to_vec(),
            channels,
        }
    }

    /// True for a flat vector.
    pub fn is_flat(&self) -> bool {
        self.spatial.is_empty()
    }

    /// Number of positions (1 when flat), saturating.
    pub fn positions(&self) -> usize {
        self.spatial
            .iter()
            .try_fold(1usize, |p, &n| p.checked_mul(n))
            .unwrap_or(usize::MAX)
    }

    /// Number of values (positions × channels), saturating.
    pub fn len(&self) -> usize {
        self.positions().saturating_mul(self.channels)
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .spatial
            .iter()
            .chain(std::iter::once(&self.channels))
            .map(usize::to_string)
            .collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// Input rows `[d, positions·C]` in (h, w, c) order → one member's hidden layout
/// `[d, C·positions]` (channel-major). Flat inputs are returned unchanged.
pub(crate) fn from_rows(x: Tensor<2>, shape: &Shape) -> Tensor<2> {
    if shape.is_flat() {
        return x;
    }
    let [d, n] = x.dims();
    let (p, c) = (shape.positions(), shape.channels);
    x.reshape([d, p, c]).swap_dims(1, 2).reshape([d, n])
}

/// The hidden layout `[M, d, C·positions]` of M members → rows `[M, d, positions·C]` in
/// (h, w, c) order (`flatten`).
pub(crate) fn to_rows(h: Tensor<3>, shape: &Shape) -> Tensor<3> {
    let [m, d, n] = h.dims();
    let (p, c) = (shape.positions(), shape.channels);
    h.reshape([m, d, c, p]).swap_dims(2, 3).reshape([m, d, n])
}

/// Mean over positions: `[M, d, C·positions]` → `[M, d, C]`.
pub(crate) fn global_average_pool(h: Tensor<3>, shape: &Shape) -> Tensor<3> {
    let [m, d, _] = h.dims();
    let (p, c) = (shape.positions(), shape.channels);
    h.reshape([m, d, c, p]).mean_dim(3).reshape([m, d, c])
}

/// `x` wrapped around by `(before, after)` along `dim` (both ≤ the size of `dim`).
fn wrap<const D: usize>(x: Tensor<D>, dim: usize, before: usize, after: usize) -> Tensor<D> {
    let n = x.dims()[dim];
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(x.clone().narrow(dim, n - before, before));
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(x.narrow(dim, 0, after));
    }
    Tensor::cat(parts, dim)
}

/// One convolution of M members on the hidden layout: `h: [M, d, C·positions]` of shape `input`
/// → `[M, d, C'·positions']` with `w: [M, C'·C·F]` (member k's W[c', c, q] row-major in row k)
/// and `b: [M, C']`, scaled as in the module docs. The members are the groups of one grouped
/// convolution (groups = M: member k's C input channels feed only its C' outputs through its own
/// filters). `filter` has one entry per spatial axis (1 or 2 axes); the shape was validated.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv(
    h: Tensor<3>,
    input: &Shape,
    channels: usize,
    filter: &[usize],
    padding: Padding,
    w: Tensor<2>,
    b: Tensor<2>,
    sigma_w: f64,
    sigma_b: f64,
) -> Tensor<3> {
    let [m, d, _] = h.dims();
    let c = input.channels;
    let fan_in = (c * filter.iter().product::<usize>()) as f64;
    let w = w.mul_scalar(sigma_w / fan_in.sqrt());
    let b = Some(b.mul_scalar(sigma_b).reshape([m * channels]));
    let pads: Vec<(usize, usize, usize)> = input
        .spatial
        .iter()
        .zip(filter)
        .map(|(&n, &f)| padding.along(n, f).expect("validated conv shape"))
        .collect();
    // Zero padding goes to the convolution; circular padding is done by wrapping the input.
    let (zero, wrapped) = match padding {
        Padding::Circular => (false, true),
        _ => (true, false),
    };
    let conv_pad = |i: usize| {
        if zero {
            (pads[i].0, pads[i].1)
        } else {
            (0, 0)
        }
    };
    // [M, d, C·P] → [d, M·C, P]: the members' channels side by side, member-major.
    let h = h.swap_dims(0, 1);
    let y = match *input.spatial.as_slice() {
        [l] => {
            let mut x = h.reshape([d, m * c, l]);
            if wrapped {
                x = wrap(x, 2, pads[0].0, pads[0].1);
            }
            let w = w.reshape([m * channels, c, filter[0]]);
            let options = ConvOptions::new_with_padding([1], [conv_pad(0)], [1], m);
            let y = conv1d(x, w, b, options);
            let [_, _, lo] = y.dims();
            y.reshape([d, m, channels * lo])
        }
        [hh, ww] => {
            let mut x = h.reshape([d, m * c, hh, ww]);
            if wrapped {
                x = wrap(x, 2, pads[0].0, pads[0].1);
                x = wrap(x, 3, pads[1].0, pads[1].1);
            }
            let w = w.reshape([m * channels, c, filter[0], filter[1]]);
            let options =
                ConvOptions::new_with_padding([1, 1], [conv_pad(0), conv_pad(1)], [1, 1], m);
            let y = conv2d(x, w, b, options);
            let [_, _, ho, wo] = y.dims();
            y.reshape([d, m, channels * ho * wo])
        }
        _ => unreachable!("validated: 1 or 2 spatial axes"),
    };
    y.swap_dims(0, 1)
}
