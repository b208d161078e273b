//! NTK-parameterized MLPs (docs/MATH.md §1, Def. C.1) and ensembles of them as batched tensors.
//!
//! ```text
//! h^1(x)     = σw/√n_0 · W^1 x + σb · b^1
//! h^{l+1}(x) = σw/√n_l · W^{l+1} φ(h^l(x)) + σb · b^{l+1}
//! f(x)       = h^L(x)
//! ```
//!
//! All W, b ~ N(0, 1). The last-layer scale κ multiplies the network function, g = κ f
//! (docs/MATH.md §1, Sec. C.2.1): the last layer is κ · (σw/√n_{L−1} · W^L a^{L−1} + σb · b^L) in every
//! forward pass, so every gradient carries one factor κ. [`MlpConfig::layer_scales`] is the one
//! place where these factors are defined.
//!
//! A hidden-to-hidden layer may carry a skip connection ([`MlpConfig::skips`]): its
//! pre-activation adds the previous one, h^{l+1} = h^l + σw/√n_l · W^{l+1} φ(h^l) + σb · b^{l+1}
//! (n_{l+1} = n_l). An MLP whose layers 2 … B+1 skip is the residual MLP of
//! [`crate::ResidualConfig`] with B blocks (`NetSpec::residual`), so the MLP engines train it.

use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::activation::{Activation, Surrogate};
use crate::error::ModelError;
use crate::op::surrogate_activation;

/// Architecture and parameterization of an MLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Widths n_0 (input dimension) … n_L (output dimension); depth L = widths.len() − 1.
    pub widths: Vec<usize>,
    /// Weight scale σw (> 0).
    pub sigma_w: f64,
    /// Bias scale σb (≥ 0).
    pub sigma_b: f64,
    /// Activation φ of the hidden layers.
    pub activation: Activation,
    /// Last-layer scale κ (> 0): the network computes g = κ f (an output multiplier, not a change
    /// of the initial values).
    pub kappa: f64,
    /// The weight layers l (0-based, increasing, 1 ≤ l < L − 1, n_{l+1} = n_l) with a skip
    /// connection: H_l = s_w · A_l W_lᵀ + s_b · b_l + H_{l−1} (a residual block, see the module
    /// docs). Empty (the default, and what files without the field load as): a plain MLP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skips: Vec<usize>,
}

impl MlpConfig {
    /// A network with the given widths and activation and the paper's σw = 1, σb = 0.1, κ = 1.
    pub fn new(widths: Vec<usize>, activation: Activation) -> Self {
        MlpConfig {
            widths,
            sigma_w: 1.0,
            sigma_b: 0.1,
            activation,
            kappa: 1.0,
            skips: Vec::new(),
        }
    }

    /// Whether weight layer `l` (0-based) adds the previous layer's pre-activation
    /// ([`MlpConfig::skips`]).
    pub fn skip(&self, l: usize) -> bool {
        self.skips.binary_search(&l).is_ok()
    }

    /// The paper's architecture: 2 → n → n → 1 (two hidden layers of width n).
    pub fn paper(width: usize, activation: Activation) -> Self {
        Self::new(vec![2, width, width, 1], activation)
    }

    /// Depth L (number of weight layers).
    pub fn depth(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }

    /// Input dimension n_0.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }

    /// Output dimension n_L.
    pub fn output_dim(&self) -> usize {
        *self.widths.last().expect("validated config has widths")
    }

    /// The multipliers (s_w, s_b) of layer `l` (0-based, l = 0 … L−1): its pre-activation is
    /// h = s_w · W a + s_b · b with s_w = κ_l σw/√n_l and s_b = κ_l σb, where κ_l = κ for the last
    /// layer and 1 otherwise (docs/MATH.md §1). Every forward, backward and kernel computation uses these.
    pub fn layer_scales(&self, l: usize) -> (f64, f64) {
        let kappa = if l + 1 == self.depth() {
            self.kappa
        } else {
            1.0
        };
        (
            kappa * self.sigma_w / (self.widths[l] as f64).sqrt(),
            kappa * self.sigma_b,
        )
    }

    /// Number of parameters P.
    pub fn num_params(&self) -> usize {
        self.widths.windows(2).map(|w| w[1] * (w[0] + 1)).sum()
    }

    /// P = Σ_l n_l (n_{l−1} + 1) with overflow checks (`None` when it overflows 64 bits).
    pub fn checked_num_params(&self) -> Option<u64> {
        self.widths.windows(2).try_fold(0u64, |acc, w| {
            let layer = (w[1] as u64).checked_mul((w[0] as u64).checked_add(1)?)?;
            acc.checked_add(layer)
        })
    }

    /// Checks every setting; the error names the bad one.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.widths.len() < 2 {
            return Err(ModelError::NoLayers {
                count: self.widths.len(),
            });
        }
        if let Some(layer) = self.widths.iter().position(|&n| n == 0) {
            return Err(ModelError::ZeroWidth { layer });
        }
        let params = self.checked_num_params().unwrap_or(u64::MAX);
        crate::limits::check_memory(
            "one network",
            &[("parameters", params), ("bytes each", BYTES_PER_PARAMETER)],
        )?;
        check_scales(self.sigma_w, self.sigma_b, self.kappa)?;
        let depth = self.depth();
        let hidden = |&l: &usize| l >= 1 && l + 1 < depth && self.widths[l] == self.widths[l + 1];
        if !(self.skips.iter().all(hidden) && self.skips.windows(2).all(|p| p[0] < p[1])) {
            return Err(ModelError::ShapeMismatch {
                what: "skip connections".into(),
                expected: format!(
                    "increasing hidden-to-hidden layers 1 … {} of equal input and output \
                     width (widths {:?})",
                    depth.saturating_sub(2),
                    self.widths
                ),
                got: format!("layers {:?}", self.skips),
            });
        }
        if let Activation::Erf { m } = self.activation {
            if !(m.is_finite() && m > 0.0) {
                return Err(crate::error::SpecError::NonPositiveParameter {
                    spec: format!("erf:{m}"),
                    value: m,
                }
                .into());
            }
        }
        Ok(())
    }
}

/// Memory per parameter and network while an ensemble is built and trained: the f64 host draw,
/// its staging copy and the device's f32 tensor (8 + 4 + 4 bytes).
pub const BYTES_PER_PARAMETER: u64 = 16;

/// Before building `networks` MLPs n0 → width → … → width → n_out with `depth` weight layers:
/// their parameters (counted with overflow checks, [`crate::limits::mlp_parameters`]) fit into
/// memory at [`BYTES_PER_PARAMETER`] each. The one size check of the CLI's `--width`/`--depth`
/// and of the figures' `widths`/`depth` settings; returns the bytes.
pub fn check_mlp_size(
    n0: usize,
    width: usize,
    depth: usize,
    n_out: usize,
    networks: usize,
) -> Result<u64, crate::limits::MemoryError> {
    let params = crate::limits::mlp_parameters(n0, width, depth, n_out);
    crate::limits::check_memory(
        "the networks",
        &[
            ("parameters", params.unwrap_or(u64::MAX)),
            ("networks", networks as u64),
            ("bytes each", BYTES_PER_PARAMETER),
        ],
    )
}

/// One layer's raw parameters on the host: `weight` is n_out × n_in, `bias` has n_out entries.
#[derive(Clone, Debug, PartialEq)]
pub struct HostLayer {
    /// W^l (n_l × n_{l−1}).
    pub weight: DMatrix<f64>,
    /// b^l (n_l).
    pub bias: DVector<f64>,
}

/// The raw parameters (W^l, b^l) of one network, layer by layer.
pub type HostParams = Vec<HostLayer>;

/// Draws member `k` of an ensemble seeded with `seed`: all W, b ~ N(0, 1) (κ is not part of the
/// draw: it scales the output, see [`MlpConfig::layer_scales`]).
///
/// The draw depends only on (seed, k): ChaCha8 seeded with `seed`, on stream `k`. A plain MLP
/// draws each W column by column, then b (the order of every result published so far); an MLP
/// with skip connections draws as its network description does (member k of
/// [`crate::NetSpec::init`] of [`crate::NetSpec::mlp`], each W row by row), so a residual MLP
/// has the same networks on every engine.
pub fn init_member(config: &MlpConfig, seed: u64, k: usize) -> HostParams {
    if !config.skips.is_empty() {
        let draws = crate::NetSpec::mlp(config).draw(seed, k);
        return draws
            .chunks_exact(2)
            .zip(config.widths.windows(2))
            .map(|(wb, w)| HostLayer {
                weight: DMatrix::from_row_slice(w[1], w[0], &wb[0]),
                bias: DVector::from_column_slice(&wb[1]),
            })
            .collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k as u64);
    let mut normal = move || -> f64 { StandardNormal.sample(&mut rng) };
    config
        .widths
        .windows(2)
        .map(|w| {
            let weight = DMatrix::from_fn(w[1], w[0], |_, _| normal());
            let bias = DVector::from_fn(w[1], |_, _| normal());
            HostLayer { weight, bias }
        })
        .collect()
}

/// Which derivative the backward pass uses: GD (φ') or SGL (a surrogate σ̃).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LearningRule {
    /// Gradient descent: backprop with the true derivative φ'.
    Gd,
    /// Surrogate gradient learning: backprop with σ̃ in place of φ'.
    Sgl(Surrogate),
}

impl LearningRule {
    /// The rule whose backward pass applies `g`: GD for [`Surrogate::True`], else SGL with `g`.
    pub fn with_backward(g: Surrogate) -> Self {
        if g == Surrogate::True {
            LearningRule::Gd
        } else {
            LearningRule::Sgl(g)
        }
    }

    /// The derivative the backward pass applies: g2 of [`LearningRule::pair`].
    pub fn backward_derivative(&self) -> Surrogate {
        self.pair().g2
    }

    /// The derivative pair of the kernel that drives this rule (docs/MATH.md §2): φ' on the first
    /// argument, the backward derivative on the second (the training points).
    pub fn pair(&self) -> DerivativePair {
        match self {
            LearningRule::Gd => DerivativePair::NTK,
            LearningRule::Sgl(g) => DerivativePair::sg_ntk(*g),
        }
    }
}

/// Which derivative on which side (docs/MATH.md §2): the generalized kernel
/// K(x, x') = J_{φ,g1}(x) J_{φ,g2}(x')ᵀ takes its first argument's Jacobian with g1 and its
/// second's with g2. The NTK is (φ', φ'), the SG-NTK (φ', σ̃). One type for the learning rule
/// ([`LearningRule::pair`]), the empirical kernels and the analytic kernels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivativePair {
    /// Derivative of the first argument's (row's) Jacobian.
    pub g1: Surrogate,
    /// Derivative of the second argument's (column's) Jacobian.
    pub g2: Surrogate,
}

impl DerivativePair {
    /// The NTK: the true derivative on both sides.
    pub const NTK: DerivativePair = DerivativePair {
        g1: Surrogate::True,
        g2: Surrogate::True,
    };

    /// The SG-NTK that drives SGL with surrogate `g` (Eq. 6–7): φ' first, σ̃ second.
    pub fn sg_ntk(g: Surrogate) -> Self {
        DerivativePair {
            g1: Surrogate::True,
            g2: g,
        }
    }

    /// Whether a side needs the true derivative φ' (which sign and step do not have).
    pub fn uses_true_derivative(&self) -> bool {
        self.g1 == Surrogate::True || self.g2 == Surrogate::True
    }
}

/// The dense pre-activation of the NTK parameterization (docs/MATH.md §1), H = s_w · A Wᵀ + s_b · b, for
/// every network of a batch at once: `a: [.., N, n_in]`, `w: [.., n_out, n_in]`, `b` broadcast to
/// `[.., N, n_out]`. With s_w = σw/√n_in and s_b = σb ([`MlpConfig::layer_scales`]; κ on the last
/// layer) this is every dense layer of every architecture here.
pub fn dense<const D: usize>(
    a: Tensor<D>,
    w: Tensor<D>,
    b: Tensor<D>,
    s_w: f64,
    s_b: f64,
) -> Tensor<D> {
    a.matmul(w.swap_dims(D - 2, D - 1)).mul_scalar(s_w) + b.mul_scalar(s_b)
}

/// The one check of the NTK scales of every network and kernel (docs/MATH.md §1): σw finite and > 0,
/// σb finite and ≥ 0, κ finite and > 0 (pass κ = 1 for a network without an output scale).
pub fn check_scales(sigma_w: f64, sigma_b: f64, kappa: f64) -> Result<(), ModelError> {
    if !(sigma_w.is_finite() && sigma_w > 0.0) {
        return Err(ModelError::NonPositiveSigmaW(sigma_w));
    }
    if !(sigma_b.is_finite() && sigma_b >= 0.0) {
        return Err(ModelError::NegativeSigmaB(sigma_b));
    }
    if !(kappa.is_finite() && kappa > 0.0) {
        return Err(ModelError::NonPositiveKappa(kappa));
    }
    Ok(())
}

/// One layer of an ensemble on the device: weight `[E, n_out, n_in]`, bias `[E, n_out]`.
#[derive(Clone, Debug)]
pub struct DeviceLayer {
    /// W^l of every member.
    pub weight: Tensor<3>,
    /// b^l of every member.
    pub bias: Tensor<2>,
}

/// E independent MLPs sharing one configuration, held as batched tensors so that they run as one
/// computation on any backend.
#[derive(Clone, Debug)]
pub struct Ensemble {
    config: MlpConfig,
    members: usize,
    layers: Vec<DeviceLayer>,
    device: Device,
}

/// Host matrix (rows = points) → device tensor `[d, n]`.
pub fn matrix_to_tensor(x: &DMatrix<f64>, device: &Device) -> Tensor<2> {
    let rows: Vec<f64> = x.transpose().iter().copied().collect();
    Tensor::from_data(TensorData::new(rows, [x.nrows(), x.ncols()]), device)
}

/// Device tensor `[d, n]` → host matrix.
pub fn tensor_to_matrix(t: Tensor<2>) -> DMatrix<f64> {
    let [r, c] = t.dims();
    let data = t.into_data();
    let v: Vec<f64> = data.iter::<f64>().collect();
    DMatrix::from_row_slice(r, c, &v)
}

/// The check of host data for a model: every entry finite and, when the model computes in f32
/// (`f32`), representable there (a larger |x| would become ±∞ on the device).
pub fn check_data(x: &DMatrix<f64>, what: &'static str, f32: bool) -> Result<(), ModelError> {
    check_finite(x, what)?;
    if f32 {
        check_fits_f32(x, what)?;
    }
    Ok(())
}

/// Checks that every entry of `x` survives rounding to f32 (|x| ≤ f32::MAX; call after
/// [`check_finite`]).
pub fn check_fits_f32(x: &DMatrix<f64>, what: &'static str) -> Result<(), ModelError> {
    for r in 0..x.nrows() {
        for c in 0..x.ncols() {
            let v = x[(r, c)];
            if !(v as f32).is_finite() {
                return Err(ModelError::DataOverflowsF32 {
                    what,
                    row: r,
                    col: c,
                    value: v,
                });
            }
        }
    }
    Ok(())
}

/// Checks that every entry of `x` is finite.
pub fn check_finite(x: &DMatrix<f64>, what: &'static str) -> Result<(), ModelError> {
    for r in 0..x.nrows() {
        for c in 0..x.ncols() {
            if !x[(r, c)].is_finite() {
                return Err(ModelError::NonFiniteData {
                    what,
                    row: r,
                    col: c,
                });
            }
        }
    }
    Ok(())
}

impl Ensemble {
    /// E networks, member k drawn by [`init_member`]`(config, seed, k)`, uploaded to `device`.
    pub fn init(
        config: &MlpConfig,
        members: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        if members == 0 {
            return Err(ModelError::EmptyEnsemble);
        }
        crate::limits::check_memory(
            "the ensemble",
            &[
                ("networks", members as u64),
                (
                    "parameters",
                    config.checked_num_params().unwrap_or(u64::MAX),
                ),
                ("bytes each", BYTES_PER_PARAMETER),
            ],
        )?;
        let params: Vec<HostParams> = (0..members).map(|k| init_member(config, seed, k)).collect();
        Self::from_host(config, &params, device)
    }

    /// An ensemble from explicit host parameters (one [`HostParams`] per member).
    pub fn from_host(
        config: &MlpConfig,
        params: &[HostParams],
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        if params.is_empty() {
            return Err(ModelError::EmptyEnsemble);
        }
        let e = params.len();
        let mut layers = Vec::with_capacity(config.depth());
        for (l, w) in config.widths.windows(2).enumerate() {
            let (n_in, n_out) = (w[0], w[1]);
            let mut wv = Vec::with_capacity(e * n_out * n_in);
            let mut bv = Vec::with_capacity(e * n_out);
            for (k, p) in params.iter().enumerate() {
                let layer = p.get(l).ok_or_else(|| ModelError::ShapeMismatch {
                    what: format!("parameters of member {k}"),
                    expected: format!("{} layers", config.depth()),
                    got: format!("{} layers", p.len()),
                })?;
                if layer.weight.shape() != (n_out, n_in) || layer.bias.len() != n_out {
                    return Err(ModelError::ShapeMismatch {
                        what: format!("layer {} of member {k}", l + 1),
                        expected: format!("W {n_out}×{n_in}, b {n_out}"),
                        got: format!(
                            "W {}×{}, b {}",
                            layer.weight.nrows(),
                            layer.weight.ncols(),
                            layer.bias.len()
                        ),
                    });
                }
                // row-major [n_out, n_in]
                wv.extend(layer.weight.transpose().iter().copied());
                bv.extend(layer.bias.iter().copied());
            }
            layers.push(DeviceLayer {
                weight: Tensor::from_data(TensorData::new(wv, [e, n_out, n_in]), device),
                bias: Tensor::from_data(TensorData::new(bv, [e, n_out]), device),
            });
        }
        Ok(Ensemble {
            config: config.clone(),
            members: e,
            layers,
            device: device.clone(),
        })
    }

    /// The shared configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// Number of members E.
    pub fn members(&self) -> usize {
        self.members
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The device-side layers.
    pub fn layers(&self) -> &[DeviceLayer] {
        &self.layers
    }

    /// Mutable access to the device-side layers (for training engines).
    pub fn layers_mut(&mut self) -> &mut [DeviceLayer] {
        &mut self.layers
    }

    /// The same configuration with other layer tensors (e.g. autodiff leaves built elsewhere).
    /// Shapes must be those of [`Ensemble::layers`].
    pub fn with_layers(&self, layers: Vec<DeviceLayer>) -> Ensemble {
        let members = layers
            .first()
            .map(|l| l.weight.dims()[0])
            .unwrap_or(self.members);
        Ensemble {
            config: self.config.clone(),
            members,
            layers,
            device: self.device.clone(),
        }
    }

    /// Downloads the parameters, one [`HostParams`] per member.
    pub fn to_host(&self) -> Vec<HostParams> {
        let mut out: Vec<HostParams> = (0..self.members).map(|_| Vec::new()).collect();
        for layer in &self.layers {
            let [e, n_out, n_in] = layer.weight.dims();
            let w: Vec<f64> = layer.weight.to_data().iter::<f64>().collect();
            let b: Vec<f64> = layer.bias.to_data().iter::<f64>().collect();
            for (k, params) in out.iter_mut().enumerate().take(e) {
                let ws = &w[k * n_out * n_in..(k + 1) * n_out * n_in];
                let bs = &b[k * n_out..(k + 1) * n_out];
                params.push(HostLayer {
                    weight: DMatrix::from_row_slice(n_out, n_in, ws),
                    bias: DVector::from_column_slice(bs),
                });
            }
        }
        out
    }

    /// Whether the parameters are f32 (or narrower) tensors, as on every backend here: inputs,
    /// targets and settings must then fit f32.
    pub fn is_f32(&self) -> bool {
        self.layers
            .first()
            .is_some_and(|l| l.weight.dtype() != burn::tensor::DType::F64)
    }

    /// Checks that `x` is a finite `[d, n_0]` matrix (whose entries fit f32 when the parameters
    /// are f32).
    pub fn check_inputs(&self, x: &DMatrix<f64>) -> Result<(), ModelError> {
        if x.ncols() != self.config.input_dim() {
            return Err(ModelError::ShapeMismatch {
                what: "inputs".into(),
                expected: format!("{} columns (input dimension n_0)", self.config.input_dim()),
                got: format!("{} columns", x.ncols()),
            });
        }
        check_data(x, "inputs", self.is_f32())
    }

    /// Fails with [`ModelError::NonFiniteParameters`] (naming the first bad layer and member)
    /// when a weight or bias is NaN or ±∞; `step` is the number of steps done. Training checks
    /// this at every recording step and at the end: a diverged run's loss can stay finite when
    /// sign(NaN) = 0 hides a NaN hidden layer from the output.
    pub fn check_parameters_finite(&self, step: usize) -> Result<(), ModelError> {
        for (l, layer) in self.layers.iter().enumerate() {
            let weight = layer.weight.clone().inner();
            let bias = layer.bias.clone().inner();
            if weight.clone().is_finite().all().into_scalar::<bool>()
                && bias.clone().is_finite().all().into_scalar::<bool>()
            {
                continue;
            }
            // Locate the member: the first non-finite entry of [E, n_out, n_in] / [E, n_out].
            let [_, n_out, n_in] = weight.dims();
            let first_bad = |v: Vec<f64>, per: usize| {
                v.iter()
                    .position(|x| !x.is_finite())
                    .map(|i| i / per.max(1))
            };
            let member = first_bad(weight.into_data().iter::<f64>().collect(), n_out * n_in)
                .or_else(|| first_bad(bias.into_data().iter::<f64>().collect(), n_out))
                .unwrap_or(0);
            return Err(ModelError::NonFiniteParameters {
                step,
                layer: l + 1,
                member,
            });
        }
        Ok(())
    }

    /// Forward pass on device inputs `x: [d, n_0]`: outputs `[E, d, n_L]`.
    ///
    /// `backward` selects the derivative the autodiff backward pass will apply at every
    /// activation (φ' for [`Surrogate::True`]); the forward values do not depend on it.
    pub fn forward(&self, x: &Tensor<2>, backward: Surrogate) -> Tensor<3> {
        let [d, n0] = x.dims();
        let e = self.members;
        let mut a: Tensor<3> = x.clone().unsqueeze_dim::<3>(0).expand([e, d, n0]);
        let depth = self.layers.len();
        let mut out = None;
        // H_{l−1}, kept only when layer l skips (so a plain MLP's tensors are not shared).
        let mut previous: Option<Tensor<3>> = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let (sw, sb) = self.config.layer_scales(l);
            let b = layer.bias.clone().unsqueeze_dim::<3>(1);
            let mut h = dense(a, layer.weight.clone(), b, sw, sb);
            if let Some(skipped) = previous.take() {
                h = skipped + h;
            }
            if l + 1 == depth {
                out = Some(h);
                break;
            }
            if self.config.skip(l + 1) {
                previous = Some(h.clone());
            }
            a = surrogate_activation(h, self.config.activation, backward);
        }
        out.expect("depth ≥ 1")
    }

    /// Evaluates every member on host inputs: one `d × n_L` matrix per member.
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<Vec<DMatrix<f64>>, ModelError> {
        self.check_inputs(x)?;
        let xt = matrix_to_tensor(x, &self.device).inner();
        let layers = self.layers.iter().map(|l| DeviceLayer {
            weight: l.weight.clone().inner(),
            bias: l.bias.clone().inner(),
        });
        let plain = Ensemble {
            config: self.config.clone(),
            members: self.members,
            layers: layers.collect(),
            device: self.device.clone(),
        };
        let f = plain.forward(&xt, Surrogate::True);
        let [e, d, o] = f.dims();
        let v: Vec<f64> = f.into_data().iter::<f64>().collect();
        Ok((0..e)
            .map(|k| DMatrix::from_row_slice(d, o, &v[k * d * o..(k + 1) * d * o]))
            .collect())
    }
}

/// A single NTK-parameterized MLP: an [`Ensemble`] of one member.
#[derive(Clone, Debug)]
pub struct Mlp(pub Ensemble);

impl Mlp {
    /// Member 0 of the ensemble seeded with `seed`.
    pub fn init(config: &MlpConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        Ok(Mlp(Ensemble::init(config, 1, seed, device)?))
    }

    /// f(x) for host inputs: `d × n_L`.
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>, ModelError> {
        Ok(self.0.predict(x)?.remove(0))
    }

    /// The raw parameters.
    pub fn to_host(&self) -> HostParams {
        self.0.to_host().remove(0)
    }
}
