//! The infinite-width kernels of any [`NetSpec`]: each layer replaced by its kernel map and the
//! maps composed in order (neural-tangents' `serial`). A layer type is one `Layer` variant
//! (`sgntk_model::netspec`: its finite apply), one [`LayerMap`] (`layers.rs`, or `conv.rs` for
//! the convolutional layers: its kernel map) and one arm of `layer_maps` here.

use std::sync::Arc;

use sgntk_model::{DerivativePair, Layer, ModelError, NetSpec, Shape, Surrogate};

use super::conv::{Conv, Flatten, GlobalAveragePool};
use super::layers::{Dense, LayerMap, Network, Nonlinearity, Residual};
use super::quadrature::GaussHermiteRule;
use super::spec::{KernelKind, KernelSpec, Method};
use super::KernelError;

/// The infinite-width kernel maps of any [`NetSpec`] for the kernel `kind` (`surrogate` is σ̃ of
/// the SG-NTK): each layer replaced by its map (stax's `serial`) — `Dense{n}` by [`Dense`] (κ on
/// the last one), `Act(φ)` by [`Nonlinearity`], `Residual(F)` by [`Residual`] of F's maps,
/// `Conv` by [`Conv`], `Flatten` by [`Flatten`], `GlobalAveragePool` by [`GlobalAveragePool`].
/// Evaluate with [`super::network_kernel_matrix`].
pub fn spec_network(
    spec: &NetSpec,
    kind: KernelKind,
    surrogate: Surrogate,
    method: Method,
) -> Result<Network, KernelError> {
    spec.validate()?;
    let rule = GaussHermiteRule::new(method.degree())?;
    let derivs = kind.derivatives(surrogate);
    let context = Context {
        spec,
        derivs,
        method,
        rule,
    };
    let layers = context.layer_maps(&spec.layers, spec.input(), spec.kappa)?;
    Ok(Network::new(spec.input(), layers).built_for(derivs))
}

impl KernelSpec {
    /// The kernel maps for `kind` on inputs of dimension `input_dim`: those of
    /// [`KernelSpec::net_spec`] through [`spec_network`] (Dense → (Nonlinearity → Dense)^{L−1},
    /// κ in the last Dense).
    pub fn network(&self, kind: KernelKind, input_dim: usize) -> Result<Network, KernelError> {
        spec_network(
            &self.net_spec(input_dim, 1)?,
            kind,
            self.surrogate,
            self.method,
        )
    }
}

/// What every layer map of one network is built with.
struct Context<'a> {
    spec: &'a NetSpec,
    derivs: Option<DerivativePair>,
    method: Method,
    rule: Arc<GaussHermiteRule>,
}

impl Context<'_> {
    /// The kernel maps of `layers` on inputs of shape `shape` (`kappa`: the output scale, on
    /// the last layer, a Dense, only).
    fn layer_maps(
        &self,
        layers: &[Layer],
        mut shape: Shape,
        kappa: f64,
    ) -> Result<Vec<Box<dyn LayerMap>>, KernelError> {
        let spec = self.spec;
        let mut maps: Vec<Box<dyn LayerMap>> = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let kappa = if i + 1 == layers.len() { kappa } else { 1.0 };
            maps.push(match layer {
                Layer::Dense { .. } => Box::new(Dense::new(spec.sigma_w, spec.sigma_b, kappa)),
                Layer::Act(phi) => Box::new(Nonlinearity::new(
                    *phi,
                    self.derivs,
                    self.method,
                    self.rule.clone(),
                )?),
                Layer::Residual(branch) => Box::new(Residual::new(self.layer_maps(
                    branch,
                    shape.clone(),
                    1.0,
                )?)),
                Layer::Conv {
                    filter, padding, ..
                } => Box::new(Conv::new(
                    &shape,
                    filter,
                    *padding,
                    spec.sigma_w,
                    spec.sigma_b,
                )?),
                Layer::Flatten => Box::new(Flatten),
                Layer::GlobalAveragePool => Box::new(GlobalAveragePool),
            });
            shape = layer
                .output_shape(&shape)
                .map_err(|e| KernelError::Shape(e.to_string()))?;
        }
        Ok(maps)
    }
}

/// The network whose analytic kernels [`super::kernel_matrix`] and [`super::gp_predict`]
/// compute: the MLP of a [`KernelSpec`] (any input dimension), or any [`NetSpec`] with the
/// surrogate σ̃ of its SG-NTK and the evaluation method.
#[derive(Clone, Copy, Debug)]
pub enum Kernels<'a> {
    /// The MLP.
    Mlp(&'a KernelSpec),
    /// Any network description.
    Spec {
        /// The network.
        spec: &'a NetSpec,
        /// σ̃ for [`KernelKind::SgNtk`].
        surrogate: Surrogate,
        /// Closed forms or quadrature.
        method: Method,
    },
}

impl Kernels<'_> {
    /// The kernel maps for `kind`, for inputs of dimension `input_dim`.
    pub fn network(&self, kind: KernelKind, input_dim: usize) -> Result<Network, KernelError> {
        match *self {
            Kernels::Mlp(spec) => spec.network(kind, input_dim),
            Kernels::Spec {
                spec,
                surrogate,
                method,
            } => {
                if input_dim != spec.input_dim() {
                    return Err(KernelError::Network(ModelError::ShapeMismatch {
                        what: "kernel inputs".into(),
                        expected: format!(
                            "{} columns (the network's input, {})",
                            spec.input_dim(),
                            spec.describe_input()
                        ),
                        got: format!("{input_dim} columns"),
                    }));
                }
                spec_network(spec, kind, surrogate, method)
            }
        }
    }
}

impl<'a> From<&'a KernelSpec> for Kernels<'a> {
    fn from(spec: &'a KernelSpec) -> Self {
        Kernels::Mlp(spec)
    }
}
