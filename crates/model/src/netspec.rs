//! One description of a network for finite and infinite width, in the manner of
//! neural-tangents' `stax`: a list of layers with the NTK scales (docs/MATH.md §1),
//!
//! ```text
//! Dense{n}:     h ↦ σw/√n_in · W h + σb · b      (n outputs; W, b i.i.d. N(0, 1); flat h)
//! Act(φ):       h ↦ φ(h)                          (through the surrogate op; any shape)
//! Residual(F):  h ↦ h + F(h)                      (F a list of layers that keeps the shape)
//! Conv, Flatten, GlobalAveragePool                (images [H, W, C], signals [L, C]: crate::conv)
//! f(x) = κ · (layers)(x)                          (the last layer is Dense{n_L}: n_L outputs)
//! ```
//!
//! The input is `input_dim = n` (a flat vector) or `input_shape = [H, W, C]` / `[L, C]`; a CSV row
//! is one input flattened row-major in (h, w, c) order, the NHWC layout of JAX/neural-tangents.
//!
//! The finite network is a [`FlatNet<NetSpec>`] ([`NetSpec::init`]): GD/SGL training with
//! [`crate::train_flat`], predictions, empirical kernels through per-sample Jacobians. The
//! infinite-width kernels are the fold of the layers' kernel maps,
//! `sgntk_ntk::analytic::spec_network`. The paper's MLP ([`NetSpec::mlp`]) and the residual MLP
//! ([`NetSpec::residual`]) are constructors; a new architecture is a new list.

use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::activation::{Activation, Surrogate};
use crate::conv::{self, Padding, Shape};
use crate::error::ModelError;
use crate::flat::{flat_tensor, Architecture, FlatNet};
use crate::mlp::{check_scales, dense, MlpConfig};
use crate::op::surrogate_activation;

/// One layer of a [`NetSpec`]. In TOML/JSON: `{ dense = { width = 64 } }`, `{ act = "sign" }`,
/// `{ residual = [ … ] }`, `{ conv = { channels = 32, filter = [3, 3], padding = "same" } }`,
/// `"flatten"`, `"global-average-pool"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Layer {
    /// σw/√n_in · W h + σb · b with `width` outputs (on a flat input).
    Dense {
        /// Output width.
        width: usize,
    },
    /// φ(h), elementwise.
    Act(Activation),
    /// h + F(h): the branch F keeps the shape.
    Residual(Vec<Layer>),
    /// Convolution with stride 1 (see [`crate::conv`]):
    /// h'[p, c'] = σw/√(C·F) Σ_{q, c} W[c', c, q] h[p + q − pad, c] + σb b[c'].
    Conv {
        /// Output channels C'.
        channels: usize,
        /// Filter size per spatial axis (`[fh, fw]` or `[f]`).
        filter: Vec<usize>,
        /// Border rule.
        padding: Padding,
    },
    /// All positions and channels as one flat vector, row-major (h, w, c).
    Flatten,
    /// The mean over positions of each channel.
    #[serde(rename = "global-average-pool")]
    GlobalAveragePool,
}

/// A network: input shape, layers and NTK scales (see the module docs). As a TOML file (or with
/// `input_shape = [8, 8, 1]` for images):
///
/// ```toml
/// input_dim = 2
/// sigma_w = 1.0
/// sigma_b = 0.1
/// kappa = 1.0
/// layers = [
///   { dense = { width = 256 } },
///   { residual = [{ act = "sign" }, { dense = { width = 256 } }] },
///   { act = "sign" },
///   { dense = { width = 1 } },
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NetSpecFile", into = "NetSpecFile")]
pub struct NetSpec {
    /// Input shape: `[n]` (flat, `input_dim = n` in a file), `[L, C]` or `[H, W, C]`.
    pub input_shape: Vec<usize>,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
    /// σw (> 0).
    pub sigma_w: f64,
    /// σb (≥ 0).
    pub sigma_b: f64,
    /// Output scale κ (> 0), g = κ f.
    pub kappa: f64,
}

/// [`NetSpec`] as written in a file: `input_dim = n` or `input_shape = [...]`, not both.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetSpecFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_shape: Option<Vec<usize>>,
    layers: Vec<Layer>,
    /// σw, by default 1 (the command line's default).
    #[serde(default = "one")]
    sigma_w: f64,
    /// σb, by default 0.1 (the command line's default).
    #[serde(default = "tenth")]
    sigma_b: f64,
    /// κ, by default 1 (the command line's default: the plain network).
    #[serde(default = "one")]
    kappa: f64,
}

fn one() -> f64 {
    1.0
}

fn tenth() -> f64 {
    0.1
}

impl TryFrom<NetSpecFile> for NetSpec {
    type Error = String;

    fn try_from(f: NetSpecFile) -> Result<Self, String> {
        let input_shape = match (f.input_dim, f.input_shape) {
            (Some(n), None) => vec![n],
            (None, Some(shape)) => shape,
            (Some(_), Some(_)) => return Err("give input_dim or input_shape, not both".into()),
            (None, None) => {
                return Err("missing input_dim = n or input_shape = [H, W, C] / [L, C]".into())
            }
        };
        Ok(NetSpec {
            input_shape,
            layers: f.layers,
            sigma_w: f.sigma_w,
            sigma_b: f.sigma_b,
            kappa: f.kappa,
        })
    }
}

impl From<NetSpec> for NetSpecFile {
    fn from(s: NetSpec) -> Self {
        let (input_dim, input_shape) = match *s.input_shape.as_slice() {
            [n] => (Some(n), None),
            _ => (None, Some(s.input_shape)),
        };
        NetSpecFile {
            input_dim,
            input_shape,
            layers: s.layers,
            sigma_w: s.sigma_w,
            sigma_b: s.sigma_b,
            kappa: s.kappa,
        }
    }
}

impl NetSpec {
    /// The length of one input (a CSV row): the product of `input_shape`.
    pub fn input_dim(&self) -> usize {
        self.input().len()
    }

    /// The output width n_L: the width of the final Dense (1 for a description without one,
    /// which [`NetSpec::validate`] rejects).
    pub fn outputs(&self) -> usize {
        match self.layers.last() {
            Some(Layer::Dense { width }) => *width,
            _ => 1,
        }
    }

    /// The input shape as positions × channels.
    pub fn input(&self) -> Shape {
        Shape::from_dims(&self.input_shape)
    }

    /// The input shape in words, for error messages: `2` (flat) or `[8, 8, 1] flattened
    /// row-major (h, w, c)`.
    pub fn describe_input(&self) -> String {
        match *self.input_shape.as_slice() {
            [n] => format!("{n}"),
            _ => format!(
                "{} = {:?} flattened row-major ({})",
                self.input_dim(),
                self.input_shape,
                if self.input_shape.len() == 3 {
                    "h, w, c"
                } else {
                    "l, c"
                }
            ),
        }
    }

    /// The MLP of `config`: Dense{n_1} → (Act(φ) → Dense{n_{l+1}})^{L−1}, each pair of a skip
    /// layer l ([`MlpConfig::skips`]) as Residual([Act(φ), Dense{n_{l+1}}]) (so the residual MLP
    /// of [`NetSpec::residual`] is the MLP with skips 1 … B).
    pub fn mlp(config: &MlpConfig) -> Self {
        let mut layers = vec![Layer::Dense {
            width: config.widths[1],
        }];
        for (l, &width) in config.widths.iter().enumerate().skip(2) {
            let pair = [Layer::Act(config.activation), Layer::Dense { width }];
            if config.skip(l - 1) {
                layers.push(Layer::Residual(pair.to_vec()));
            } else {
                layers.extend(pair);
            }
        }
        NetSpec {
            input_shape: vec![config.widths[0]],
            layers,
            sigma_w: config.sigma_w,
            sigma_b: config.sigma_b,
            kappa: config.kappa,
        }
    }

    /// Checks the scales, the shapes (input `[n]`, `[L, C]` or `[H, W, C]` without zeros; every
    /// Dense ≥ 1 on a flat input; every conv with ≥ 1 channels and a filter that fits its input;
    /// flatten / global-average-pool on a spatial input; every residual branch ends at the shape
    /// it starts with; the outputs from a final Dense{n_L ≥ 1}) and that the parameters fit into
    /// memory. A network without an Act layer is linear (its kernels do not depend on g1, g2).
    pub fn validate(&self) -> Result<(), ModelError> {
        check_scales(self.sigma_w, self.sigma_b, self.kappa)?;
        let bad = |got: String| ModelError::ShapeMismatch {
            what: "network layers".into(),
            expected: "a valid network (input_dim ≥ 1 or input_shape [L, C] / [H, W, C]; Dense \
                       on flat inputs; a final Dense)"
                .into(),
            got,
        };
        if self.input_shape.is_empty()
            || self.input_shape.len() > 3
            || self.input_shape.contains(&0)
        {
            return Err(bad(format!(
                "input shape {:?} (expected input_dim = n ≥ 1, or input_shape = [L, C] or \
                 [H, W, C] with sizes ≥ 1)",
                self.input_shape
            )));
        }
        if !matches!(self.layers.last(), Some(Layer::Dense { .. })) {
            return Err(bad(format!("last layer {:?}", self.layers.last())));
        }
        let mut lengths = Vec::new();
        trace(&self.layers, self.input(), &mut lengths).map_err(bad)?;
        let params = lengths
            .iter()
            .try_fold(0u64, |sum, &n| sum.checked_add(n))
            .unwrap_or(u64::MAX);
        crate::check_memory("network", &[("parameters", params), ("bytes", 8)])?;
        Ok(())
    }

    /// The first activation of the layers (the φ whose φ' [`Surrogate::True`] means; `None` for
    /// a linear network).
    pub fn activation(&self) -> Option<Activation> {
        fn first(layers: &[Layer]) -> Option<Activation> {
            layers.iter().find_map(|l| match l {
                Layer::Act(phi) => Some(*phi),
                Layer::Residual(inner) => first(inner),
                _ => None,
            })
        }
        first(&self.layers)
    }

    /// Member `k` of an ensemble seeded with `seed`: every parameter i.i.d. N(0, 1) from ChaCha8
    /// seeded with `seed` on stream `k`, W then b of each Dense and Conv in order (a conv's W
    /// row-major as W[c', c, q]).
    pub fn init(
        &self,
        seed: u64,
        k: usize,
        device: &Device,
    ) -> Result<FlatNet<NetSpec>, ModelError> {
        self.validate()?;
        let params = self
            .draw(seed, k)
            .into_iter()
            .map(|v| flat_tensor(v, device))
            .collect();
        Ok(FlatNet::new(self.clone(), params, device))
    }

    /// The host values of member `k`'s parameters (validated spec): [`NetSpec::init`]'s draws,
    /// which every ensemble of this spec uses ([`crate::SpecEnsemble::init`]).
    pub(crate) fn draw(&self, seed: u64, k: usize) -> Vec<Vec<f64>> {
        let mut lengths = Vec::new();
        trace(&self.layers, self.input(), &mut lengths).expect("validated");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        lengths
            .into_iter()
            .map(|len| {
                (0..len as usize)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect()
            })
            .collect()
    }

    /// The outputs `[M, N, n_L]` of M members on the same inputs `x: [N, n_0]` (rows in (h, w, c)
    /// order), from stacked parameters `params[i]: [M, len_i]` (row k: member k's i-th flat
    /// parameter tensor), with `backward` as every φ's backward derivative: one batched
    /// computation (batched matmuls, grouped convolutions). One network is M = 1
    /// ([`Architecture::forward`]).
    pub fn forward_members(
        &self,
        params: &[Tensor<2>],
        x: &Tensor<2>,
        backward: Surrogate,
    ) -> Tensor<3> {
        let members = params.first().map_or(1, |p| p.dims()[0]);
        let input = self.input();
        let h = conv::from_rows(x.clone(), &input);
        let [d, n] = h.dims();
        let h = h.unsqueeze_dim::<3>(0).expand([members, d, n]);
        let f = apply(self, &self.layers, h, input, &mut params.iter(), backward);
        f.mul_scalar(self.kappa)
    }
}

impl TryFrom<&NetSpec> for MlpConfig {
    type Error = ModelError;

    /// The MLP a spec describes, if it is one: Dense{n_1}, then steps Act(φ) → Dense{n} or
    /// Residual([Act(φ), Dense{n}]) (a skip layer, n the width it starts from) with one φ (the
    /// inverse of [`NetSpec::mlp`]; the residual MLP of [`NetSpec::residual`] is one), so the
    /// batched engines can train it.
    fn try_from(spec: &NetSpec) -> Result<MlpConfig, ModelError> {
        spec.validate()?;
        let not_mlp = || ModelError::ShapeMismatch {
            what: "network layers".into(),
            expected: "an MLP: dense, then (act, dense) pairs or residual [act, dense] blocks \
                       with one activation"
                .into(),
            got: outline(&spec.layers),
        };
        if spec.input_shape.len() != 1 {
            return Err(not_mlp());
        }
        let mut widths = vec![spec.input_dim()];
        let mut activation = None;
        let mut skips = Vec::new();
        let mut layers = spec.layers.iter();
        match layers.next() {
            Some(Layer::Dense { width }) => widths.push(*width),
            _ => return Err(not_mlp()),
        }
        // One step: the act and dense of a pair (its layer index is widths.len() − 1).
        let mut step = |phi: &Activation, width: usize, widths: &mut Vec<usize>| {
            if activation.is_some_and(|a| a != *phi) {
                return false;
            }
            activation = Some(*phi);
            widths.push(width);
            true
        };
        while let Some(layer) = layers.next() {
            let ok = match layer {
                Layer::Residual(block) => match block.as_slice() {
                    [Layer::Act(phi), Layer::Dense { width }] => {
                        skips.push(widths.len() - 1);
                        step(phi, *width, &mut widths)
                    }
                    _ => false,
                },
                Layer::Act(phi) => match layers.next() {
                    Some(Layer::Dense { width }) => step(phi, *width, &mut widths),
                    _ => false,
                },
                _ => false,
            };
            if !ok {
                return Err(not_mlp());
            }
        }
        // The skips are hidden-to-hidden layers of equal widths: the spec's last layer is a Dense
        // and its residual branches keep their width (validated).
        Ok(MlpConfig {
            widths,
            sigma_w: spec.sigma_w,
            sigma_b: spec.sigma_b,
            activation: activation.unwrap_or(Activation::Identity),
            kappa: spec.kappa,
            skips,
        })
    }
}

impl Layer {
    /// The shape this layer gives an input of shape `input`, or what is wrong (one line).
    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        trace(std::slice::from_ref(self), input.clone(), &mut Vec::new())
    }
}

/// `layers` in words, e.g. `dense 64, residual [act sign, dense 64], dense 1`.
fn outline(layers: &[Layer]) -> String {
    let name = |l: &Layer| match l {
        Layer::Dense { width } => format!("dense {width}"),
        Layer::Act(phi) => format!("act {phi}"),
        Layer::Residual(inner) => format!("residual [{}]", outline(inner)),
        Layer::Conv {
            channels,
            filter,
            padding,
        } => format!("conv {channels} {filter:?} {padding}"),
        Layer::Flatten => "flatten".into(),
        Layer::GlobalAveragePool => "global-average-pool".into(),
    };
    layers.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// Follows the shapes through `layers` from `shape`, pushing the flat parameter lengths (W, b of
/// each Dense and Conv); returns the output shape or what is wrong (one line).
fn trace(layers: &[Layer], mut shape: Shape, lengths: &mut Vec<u64>) -> Result<Shape, String> {
    for layer in layers {
        match layer {
            Layer::Dense { width: 0 } => return Err("a Dense layer of width 0".into()),
            Layer::Dense { .. } if !shape.is_flat() => {
                return Err(format!(
                    "a Dense layer on the unflattened shape {shape} (add \"flatten\" or \
                     \"global-average-pool\" before it)"
                ))
            }
            Layer::Dense { width: out } => {
                lengths.push((*out as u64).saturating_mul(shape.channels as u64));
                lengths.push(*out as u64);
                shape = Shape::flat(*out);
            }
            Layer::Act(_) => {}
            Layer::Residual(inner) => {
                let out = trace(inner, shape.clone(), lengths)?;
                if out != shape || inner.is_empty() {
                    return Err(format!("a residual branch from shape {shape} to {out}"));
                }
            }
            Layer::Conv { channels: 0, .. } => return Err("a conv layer with 0 channels".into()),
            Layer::Conv { .. } if shape.is_flat() => {
                return Err(format!(
                    "a conv layer on the flat shape {shape} (give input_shape = [H, W, C] or \
                     [L, C], and no flatten, pool or Dense before it)"
                ))
            }
            Layer::Conv { filter, .. } if filter.len() != shape.spatial.len() => {
                return Err(format!(
                    "a conv filter {filter:?} on the {}-D shape {shape} (one size per spatial axis)",
                    shape.spatial.len()
                ))
            }
            Layer::Conv { filter, .. } if filter.contains(&0) => {
                return Err(format!("a conv filter {filter:?} with a zero size"))
            }
            Layer::Conv {
                channels,
                filter,
                padding,
            } => {
                let mut spatial = Vec::with_capacity(filter.len());
                for (&n, &f) in shape.spatial.iter().zip(filter) {
                    match padding.along(n, f) {
                        Some((_, _, out)) => spatial.push(out),
                        None => {
                            return Err(format!(
                                "a conv filter {filter:?} larger than its input {shape} with \
                                 {padding} padding"
                            ))
                        }
                    }
                }
                let taps = filter
                    .iter()
                    .fold(shape.channels as u64, |t, &f| t.saturating_mul(f as u64));
                lengths.push((*channels as u64).saturating_mul(taps));
                lengths.push(*channels as u64);
                shape = Shape {
                    spatial,
                    channels: *channels,
                };
            }
            Layer::Flatten | Layer::GlobalAveragePool if shape.is_flat() => {
                return Err(format!(
                    "{} on the flat shape {shape} (it needs positions)",
                    outline(std::slice::from_ref(layer))
                ))
            }
            Layer::Flatten => shape = Shape::flat(shape.len()),
            Layer::GlobalAveragePool => shape = Shape::flat(shape.channels),
        }
    }
    Ok(shape)
}

/// `layers` applied to the hidden states `h: [M, d, ·]` of M members (shape `shape`, in the
/// hidden layout of [`crate::conv`]), reading stacked parameters `[M, len]` from `params` in
/// order.
fn apply<'a>(
    spec: &NetSpec,
    layers: &[Layer],
    mut h: Tensor<3>,
    mut shape: Shape,
    params: &mut impl Iterator<Item = &'a Tensor<2>>,
    backward: Surrogate,
) -> Tensor<3> {
    fn take<'a>(params: &mut impl Iterator<Item = &'a Tensor<2>>) -> Tensor<2> {
        params
            .next()
            .expect("one W and one b per Dense and Conv")
            .clone()
    }
    for layer in layers {
        match layer {
            Layer::Dense { width: out } => {
                let width = shape.channels;
                let (w, b) = (take(params), take(params));
                let m = w.dims()[0];
                let w = w.reshape([m, *out, width]);
                let b = b.reshape([m, 1, *out]);
                h = dense(h, w, b, spec.sigma_w / (width as f64).sqrt(), spec.sigma_b);
                shape = Shape::flat(*out);
            }
            Layer::Act(phi) => h = surrogate_activation(h, *phi, backward),
            Layer::Residual(inner) => {
                h = h.clone() + apply(spec, inner, h, shape.clone(), params, backward);
            }
            Layer::Conv {
                channels,
                filter,
                padding,
            } => {
                let (w, b) = (take(params), take(params));
                h = conv::conv(
                    h,
                    &shape,
                    *channels,
                    filter,
                    *padding,
                    w,
                    b,
                    spec.sigma_w,
                    spec.sigma_b,
                );
                let spatial = (shape.spatial.iter().zip(filter))
                    .map(|(&n, &f)| padding.along(n, f).expect("validated").2)
                    .collect();
                shape = Shape {
                    spatial,
                    channels: *channels,
                };
            }
            Layer::Flatten => {
                h = conv::to_rows(h, &shape);
                shape = Shape::flat(shape.len());
            }
            Layer::GlobalAveragePool => {
                h = conv::global_average_pool(h, &shape);
                shape = Shape::flat(shape.channels);
            }
        }
    }
    h
}

impl Architecture for NetSpec {
    /// [`NetSpec::forward_members`] of one member.
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2> {
        let stacked: Vec<Tensor<2>> = params.iter().map(|p| p.clone().unsqueeze()).collect();
        let f = self.forward_members(&stacked, x, backward);
        let [_, d, out] = f.dims();
        f.reshape([d, out])
    }

    fn activation(&self) -> Activation {
        NetSpec::activation(self).unwrap_or(Activation::Identity)
    }

    fn input_dim(&self) -> usize {
        NetSpec::input_dim(self)
    }

    fn outputs(&self) -> usize {
        NetSpec::outputs(self)
    }
}
