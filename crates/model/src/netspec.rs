//! One description of a network for finite and infinite width, in the manner of
//! neural-tangents' `stax`: a list of layers with the NTK scales (docs/MATH.md §1),
//!
//! ```text
//! Dense{n}:     h ↦ σw/√n_in · W h + σb · b      (n outputs; W, b i.i.d. N(0, 1))
//! Act(φ):       h ↦ φ(h)                          (through the surrogate op)
//! Residual(F):  h ↦ h + F(h)                      (F a list of layers that keeps the width)
//! f(x) = κ · (layers)(x)                          (the last layer is Dense{1})
//! ```
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
use crate::error::ModelError;
use crate::flat::{flat_tensor, Architecture, FlatNet};
use crate::mlp::{check_scales, dense, MlpConfig};
use crate::op::surrogate_activation;

/// One layer of a [`NetSpec`]. In TOML/JSON: `{ dense = { width = 64 } }`, `{ act = "sign" }`,
/// `{ residual = [ … ] }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Layer {
    /// σw/√n_in · W h + σb · b with `width` outputs.
    Dense {
        /// Output width.
        width: usize,
    },
    /// φ(h), elementwise.
    Act(Activation),
    /// h + F(h): the branch F keeps the width.
    Residual(Vec<Layer>),
}

/// A network: input width, layers and NTK scales (see the module docs). As a TOML file:
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
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    /// Input dimension n_0.
    pub input_dim: usize,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
    /// σw (> 0).
    pub sigma_w: f64,
    /// σb (≥ 0).
    pub sigma_b: f64,
    /// Output scale κ (> 0), g = κ f.
    pub kappa: f64,
}

impl NetSpec {
    /// The MLP of `config`: Dense → (Act → Dense)^{L−1}, scalar output.
    pub fn mlp(config: &MlpConfig) -> Self {
        let mut layers = vec![Layer::Dense {
            width: config.widths[1],
        }];
        for &width in &config.widths[2..] {
            layers.push(Layer::Act(config.activation));
            layers.push(Layer::Dense { width });
        }
        NetSpec {
            input_dim: config.widths[0],
            layers,
            sigma_w: config.sigma_w,
            sigma_b: config.sigma_b,
            kappa: config.kappa,
        }
    }

    /// Checks the scales, the widths (every Dense ≥ 1, every residual branch ends at the width it
    /// starts with, a scalar output from a final Dense) and that the parameters fit into memory.
    /// A network without an Act layer is linear (its kernels do not depend on g1, g2).
    pub fn validate(&self) -> Result<(), ModelError> {
        check_scales(self.sigma_w, self.sigma_b, self.kappa)?;
        let bad = |got: String| ModelError::ShapeMismatch {
            what: "network layers".into(),
            expected: "input_dim ≥ 1, Dense widths ≥ 1, residual branches that keep the width, \
                       a final Dense{1}"
                .into(),
            got,
        };
        if self.input_dim == 0 {
            return Err(bad("input_dim 0".into()));
        }
        if !matches!(self.layers.last(), Some(Layer::Dense { width: 1 })) {
            return Err(bad(format!("last layer {:?}", self.layers.last())));
        }
        let mut lengths = Vec::new();
        trace(&self.layers, self.input_dim, &mut lengths).map_err(bad)?;
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
                Layer::Dense { .. } => None,
            })
        }
        first(&self.layers)
    }

    /// Member `k` of an ensemble seeded with `seed`: every parameter i.i.d. N(0, 1) from ChaCha8
    /// seeded with `seed` on stream `k`, W then b of each Dense in order.
    pub fn init(
        &self,
        seed: u64,
        k: usize,
        device: &Device,
    ) -> Result<FlatNet<NetSpec>, ModelError> {
        self.validate()?;
        let mut lengths = Vec::new();
        trace(&self.layers, self.input_dim, &mut lengths).expect("validated");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        let params = lengths
            .into_iter()
            .map(|len| {
                let v = (0..len as usize).map(|_| StandardNormal.sample(&mut rng));
                flat_tensor(v.collect(), device)
            })
            .collect();
        Ok(FlatNet::new(self.clone(), params, device))
    }
}

impl TryFrom<&NetSpec> for MlpConfig {
    type Error = ModelError;

    /// The MLP a spec describes, if it is one: Dense{n_1} → (Act(φ) → Dense{n_l})^{L−1} with one
    /// φ (the inverse of [`NetSpec::mlp`]), so the batched engines can train it.
    fn try_from(spec: &NetSpec) -> Result<MlpConfig, ModelError> {
        spec.validate()?;
        let not_mlp = || ModelError::ShapeMismatch {
            what: "network layers".into(),
            expected: "an MLP: dense, then (act, dense) pairs with one activation".into(),
            got: outline(&spec.layers),
        };
        let mut widths = vec![spec.input_dim];
        let mut activation = None;
        let mut layers = spec.layers.iter();
        match layers.next() {
            Some(Layer::Dense { width }) => widths.push(*width),
            _ => return Err(not_mlp()),
        }
        while let Some(layer) = layers.next() {
            match (layer, layers.next()) {
                (Layer::Act(phi), Some(Layer::Dense { width }))
                    if activation.is_none_or(|a| a == *phi) =>
                {
                    activation = Some(*phi);
                    widths.push(*width);
                }
                _ => return Err(not_mlp()),
            }
        }
        Ok(MlpConfig {
            widths,
            sigma_w: spec.sigma_w,
            sigma_b: spec.sigma_b,
            activation: activation.unwrap_or(Activation::Identity),
            kappa: spec.kappa,
        })
    }
}

/// `layers` in words, e.g. `dense 64, residual [act sign, dense 64], dense 1`.
fn outline(layers: &[Layer]) -> String {
    let name = |l: &Layer| match l {
        Layer::Dense { width } => format!("dense {width}"),
        Layer::Act(phi) => format!("act {phi}"),
        Layer::Residual(inner) => format!("residual [{}]", outline(inner)),
    };
    layers.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// Follows the widths through `layers` from `width`, pushing the flat parameter lengths (W, b of
/// each Dense); returns the output width or what is wrong.
fn trace(layers: &[Layer], mut width: usize, lengths: &mut Vec<u64>) -> Result<usize, String> {
    for layer in layers {
        match layer {
            Layer::Dense { width: 0 } => return Err("a Dense layer of width 0".into()),
            Layer::Dense { width: out } => {
                lengths.push((*out as u64).saturating_mul(width as u64));
                lengths.push(*out as u64);
                width = *out;
            }
            Layer::Act(_) => {}
            Layer::Residual(inner) => {
                let out = trace(inner, width, lengths)?;
                if out != width || inner.is_empty() {
                    return Err(format!("a residual branch from width {width} to {out}"));
                }
            }
        }
    }
    Ok(width)
}

/// `layers` applied to `h` (width `width`), reading parameters from `params` in order.
fn apply<'a>(
    spec: &NetSpec,
    layers: &[Layer],
    mut h: Tensor<2>,
    mut width: usize,
    params: &mut impl Iterator<Item = &'a Tensor<1>>,
    backward: Surrogate,
) -> Tensor<2> {
    for layer in layers {
        match layer {
            Layer::Dense { width: out } => {
                let mut next = || params.next().expect("one W and one b per Dense").clone();
                let w = next().reshape([*out, width]);
                let b = next().reshape([1, *out]);
                h = dense(h, w, b, spec.sigma_w / (width as f64).sqrt(), spec.sigma_b);
                width = *out;
            }
            Layer::Act(phi) => h = surrogate_activation(h, *phi, backward),
            Layer::Residual(inner) => {
                h = h.clone() + apply(spec, inner, h, width, params, backward);
            }
        }
    }
    h
}

impl Architecture for NetSpec {
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<1> {
        let [d, _] = x.dims();
        let f = apply(
            self,
            &self.layers,
            x.clone(),
            self.input_dim,
            &mut params.iter(),
            backward,
        );
        f.mul_scalar(self.kappa).reshape([d])
    }

    fn activation(&self) -> Activation {
        NetSpec::activation(self).unwrap_or(Activation::Identity)
    }

    fn input_dim(&self) -> usize {
        self.input_dim
    }
}
