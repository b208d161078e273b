//! The infinite-width kernels of any [`NetSpec`]: each layer replaced by its kernel map and the
//! maps composed in order (neural-tangents' `serial`). A layer type is one `Layer` variant
//! (`sgntk_model::netspec`: its finite apply), one [`LayerMap`] (`layers.rs`: its kernel map) and
//! one arm of `layer_map` here.

use std::sync::Arc;

use sgntk_model::{DerivativePair, Layer, ModelError, NetSpec, Surrogate};

use super::layers::{Dense, LayerMap, Network, Nonlinearity, Residual};
use super::quadrature::GaussHermiteRule;
use super::spec::{KernelKind, KernelSpec, Method};
use super::KernelError;

/// The infinite-width kernel maps of any [`NetSpec`] for the kernel `kind` (`surrogate` is σ̃ of
/// the SG-NTK): each layer replaced by its map (stax's `serial`) — `Dense{n}` by [`Dense`] (κ on
/// the last one), `Act(φ)` by [`Nonlinearity`], `Residual(F)` by [`Residual`] of F's maps.
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
    let last = spec.layers.len() - 1;
    let layers = spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let kappa = if i == last { spec.kappa } else { 1.0 };
            layer_map(layer, kappa, spec, derivs, method, &rule)
        })
        .collect::<Result<_, _>>()?;
    Ok(Network::new(layers))
}

impl KernelSpec {
    /// The kernel maps for `kind`: those of [`KernelSpec::net_spec`] through
    /// [`spec_network`] (Dense → (Nonlinearity → Dense)^{L−1}, κ in the last Dense).
    pub fn network(&self, kind: KernelKind) -> Result<Network, KernelError> {
        spec_network(&self.net_spec(1, 1)?, kind, self.surrogate, self.method)
    }
}

/// The kernel map of one layer (`kappa`: the output scale, on the last Dense only).
fn layer_map(
    layer: &Layer,
    kappa: f64,
    spec: &NetSpec,
    derivs: Option<DerivativePair>,
    method: Method,
    rule: &Arc<GaussHermiteRule>,
) -> Result<Box<dyn LayerMap>, KernelError> {
    Ok(match layer {
        Layer::Dense { .. } => Box::new(Dense::new(spec.sigma_w, spec.sigma_b, kappa)),
        Layer::Act(phi) => Box::new(Nonlinearity::new(*phi, derivs, method, rule.clone())?),
        Layer::Residual(branch) => Box::new(Residual::new(
            branch
                .iter()
                .map(|l| layer_map(l, 1.0, spec, derivs, method, rule))
                .collect::<Result<_, _>>()?,
        )),
    })
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
            Kernels::Mlp(spec) => spec.network(kind),
            Kernels::Spec {
                spec,
                surrogate,
                method,
            } => {
                if input_dim != spec.input_dim {
                    return Err(KernelError::Network(ModelError::ShapeMismatch {
                        what: "kernel inputs".into(),
                        expected: format!("{} columns (the network's input_dim)", spec.input_dim),
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
