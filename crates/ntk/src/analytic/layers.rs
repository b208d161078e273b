//! The kernel state and the per-layer maps (the `stax` design).

use std::sync::Arc;

use sgntk_model::{Activation, DerivativePair, Surrogate};

use super::closed_form::{pair_expectation, ScalarFn};
use super::quadrature::GaussHermiteRule;
use super::spec::Method;
use super::KernelError;

/// The state of a pair (x, x') between layers.
///
/// `k11 = Σ(x,x)`, `k12 = Σ(x,x')`, `k22 = Σ(x',x')` and `ntk = I(x,x')` (the NTK or the
/// generalized/SG-NTK; +∞ for the singular sign NTK on the diagonal).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairState {
    /// Σ(x, x).
    pub k11: f64,
    /// Σ(x, x').
    pub k12: f64,
    /// Σ(x', x').
    pub k22: f64,
    /// I(x, x') (0 before the first layer).
    pub ntk: f64,
}

impl PairState {
    /// The input "layer": ⟨x,x⟩/n0, ⟨x,x'⟩/n0, ⟨x',x'⟩/n0 and I = 0, so that the first
    /// [`Dense`] map yields Σ^1 = σw²/n0 ⟨x,x'⟩ + σb² and I^1 = Σ^1.
    pub fn from_inputs(x: &[f64], y: &[f64]) -> Self {
        let n0 = x.len() as f64;
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>() / n0;
        PairState {
            k11: dot(x, x),
            k12: dot(x, y),
            k22: dot(y, y),
            ntk: 0.0,
        }
    }
}

/// `a · b` with 0 · ∞ = 0 (a zero factor always wins: a vanishing derivative kernel switches the
/// earlier layers off even where I^l = +∞).
pub fn mul_inf_safe(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        0.0
    } else {
        a * b
    }
}

/// One layer map of the kernel recursion.
///
/// A map sends the per-point variance Σ(x,x) to its new value ([`LayerMap::variance`]) and a pair
/// state to the next ([`LayerMap::pair`]); the new diagonal variances are passed in so that the
/// matrix code computes them once per point.
pub trait LayerMap: Send + Sync + std::fmt::Debug {
    /// The new Σ(x, x) from the old one.
    fn variance(&self, k: f64) -> f64;
    /// The new pair state; `k11` and `k22` are `self.variance(s.k11)`, `self.variance(s.k22)`.
    fn pair(&self, s: &PairState, k11: f64, k22: f64) -> PairState;
    /// True for maps whose output is a layer's pre-activation (Σ^l, I^l), recorded by
    /// [`Network::pair_layers`].
    fn ends_layer(&self) -> bool {
        false
    }
    /// Convenience: the new pair state, computing the diagonal too.
    fn apply(&self, s: &PairState) -> PairState {
        self.pair(s, self.variance(s.k11), self.variance(s.k22))
    }
    /// Whether this map is singular at `s`: its value there is one of the theory's infinite
    /// values (docs/MATH.md §5: the derivative kernel E[g1(u) g2(v)] of a Dirac δ — sign' = 2δ,
    /// step' = δ — where (u, v) ~ N(0, Λ) is degenerate), so that the kernel is ±∞ by
    /// definition, not by overflow. Maps with no such point keep the default `false`.
    fn singular(&self, _s: &PairState) -> bool {
        false
    }
}

/// Dense layer h' = κ · (σw/√n W a + σb b) (NTK parameterization) with an output multiplier κ
/// (κ = 1 except for the last layer, where it is the last-layer scale of docs/MATH.md §1/§5, g = κ f):
///
/// ```text
/// P = σw² Σ + σb²,   Σ' = κ² P,   I' = κ² (P + σw² I).
/// ```
///
/// With I the kernel of the layers below (already multiplied by the elementwise derivative
/// kernel), this is I^{l+1} = Σ^{l+1} + I^l Σ̃^{l+1} (Remark E.3); with κ on the last layer the
/// driving kernel is κ² I^L and the f_0 covariance κ² Σ^L (every gradient carries one factor κ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense {
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
    /// κ.
    pub kappa: f64,
}

impl Dense {
    /// A dense map.
    pub fn new(sigma_w: f64, sigma_b: f64, kappa: f64) -> Self {
        Dense {
            sigma_w,
            sigma_b,
            kappa,
        }
    }

    fn pre(&self, k: f64) -> f64 {
        self.sigma_w * self.sigma_w * k + self.sigma_b * self.sigma_b
    }
}

impl LayerMap for Dense {
    fn variance(&self, k: f64) -> f64 {
        self.kappa * self.kappa * self.pre(k)
    }

    fn pair(&self, s: &PairState, k11: f64, k22: f64) -> PairState {
        let p12 = self.pre(s.k12);
        let k2 = self.kappa * self.kappa;
        PairState {
            k11,
            k12: k2 * p12,
            k22,
            ntk: k2 * (p12 + mul_inf_safe(self.sigma_w * self.sigma_w, s.ntk)),
        }
    }

    fn ends_layer(&self) -> bool {
        true
    }
}

/// Nonlinearity layer a = φ(h) with derivative g1 on the first argument and g2 on the second:
///
/// ```text
/// Σ' = E[φ(u) φ(v)],   I' = I · E[g1(u) g2(v)],   (u, v) ~ N(0, Λ).
/// ```
#[derive(Clone, Debug)]
pub struct Nonlinearity {
    phi: ScalarFn,
    derivs: Option<(ScalarFn, ScalarFn)>,
    method: Method,
    rule: Arc<GaussHermiteRule>,
}

impl Nonlinearity {
    /// The map for activation φ and derivatives (g1, g2) (`None`: NNGP only, I' = 0).
    ///
    /// Fails for combinations the method cannot evaluate (Dirac deltas under pure quadrature).
    pub fn new(
        activation: Activation,
        derivs: Option<DerivativePair>,
        method: Method,
        rule: Arc<GaussHermiteRule>,
    ) -> Result<Self, KernelError> {
        let phi = ScalarFn::activation(activation);
        // A δ only where the theory has one (sign' and step'): erf:M and erf-prime:A with
        // 1/(2M²) below the f64 range would turn into a δ and give +∞ where the kernel is finite.
        if let Some(DerivativePair { g1, g2 }) = derivs {
            for g in [g1, g2] {
                let exact_delta = g == Surrogate::True
                    && matches!(activation, Activation::Sign | Activation::Step);
                if ScalarFn::derivative(activation, g).is_delta() && !exact_delta {
                    let (name, value) = match (g, activation) {
                        (Surrogate::ErfPrime { a }, _) => ("the surrogate's a of erf-prime:A", a),
                        (_, Activation::Erf { m }) => ("the activation's m of erf:M", m),
                        _ => ("the derivative's scale", f64::INFINITY),
                    };
                    return Err(KernelError::BadParameter {
                        name,
                        value,
                        requirement: "its variance 1/(2·value²) underflows f64 to 0, so the NTK would overflow (the kernel grows like the value); use at most 1e150",
                    });
                }
            }
        }
        let derivs = derivs.map(|DerivativePair { g1, g2 }| {
            (
                ScalarFn::derivative(activation, g1),
                ScalarFn::derivative(activation, g2),
            )
        });
        if let Method::Quadrature { .. } | Method::Adaptive = method {
            for f in std::iter::once(phi).chain(derivs.into_iter().flat_map(|(a, b)| [a, b])) {
                if f.is_delta() {
                    return Err(KernelError::Unsupported(format!(
                        "the derivative of `{activation}` is a Dirac delta; 2-D quadrature cannot integrate it (use Method::Auto)"
                    )));
                }
            }
        }
        Ok(Nonlinearity {
            phi,
            derivs,
            method,
            rule,
        })
    }

    fn expect(&self, f: &ScalarFn, g: &ScalarFn, l11: f64, l12: f64, l22: f64) -> f64 {
        pair_expectation(f, g, l11, l12, l22, self.method, &self.rule)
    }
}

impl LayerMap for Nonlinearity {
    fn variance(&self, k: f64) -> f64 {
        self.expect(&self.phi, &self.phi, k, k, k)
    }

    fn pair(&self, s: &PairState, k11: f64, k22: f64) -> PairState {
        let k12 = self.expect(&self.phi, &self.phi, s.k11, s.k12, s.k22);
        let ntk = match &self.derivs {
            Some((g1, g2)) => mul_inf_safe(s.ntk, self.expect(g1, g2, s.k11, s.k12, s.k22)),
            None => 0.0,
        };
        PairState { k11, k12, k22, ntk }
    }

    /// Singular where E[g1(u) g2(v)] is infinite with a δ among (g1, g2): the closed forms give
    /// ±∞ only there (det(Λ + diag(s, s')) = 0, or a δ at a point of zero variance).
    fn singular(&self, s: &PairState) -> bool {
        self.derivs.as_ref().is_some_and(|(g1, g2)| {
            (g1.is_delta() || g2.is_delta())
                && self.expect(g1, g2, s.k11, s.k12, s.k22).is_infinite()
        })
    }
}

/// Residual block y = h + F(h) around the maps `inner` of the branch F (typically
/// Nonlinearity(φ, g1, g2) → Dense(σw, σb), widths equal):
///
/// ```text
/// Σ' = Σ + Σ_F,   I' = I + I_F,   (Σ_F, I_F) = the fold of `inner` over (Σ, I).
/// ```
///
/// The skip path passes h and its parameter gradients unchanged. The branch's weights are drawn
/// independently of h and have mean zero, so every cross term — Cov(h(x), F(x')) in Σ', and
/// ⟨∂h(x)/∂θ, ∂F(x')/∂θ⟩ = σw/√n Σ_j W_ij g(h_j(x')) ⟨∂h_i(x)/∂θ, ∂h_j(x')/∂θ⟩ in I', which is
/// O(1/√n) — vanishes in the infinite-width limit. For the branch Nonlinearity → Dense this is
/// Σ' = Σ + σw² E[φ(u)φ(v)] + σb², I' = I (1 + σw² E[g1(u) g2(v)]) + σw² E[φ(u)φ(v)] + σb².
#[derive(Debug)]
pub struct Residual {
    inner: Vec<Box<dyn LayerMap>>,
}

impl Residual {
    /// A residual block around the branch `inner` (applied in order).
    pub fn new(inner: Vec<Box<dyn LayerMap>>) -> Self {
        Residual { inner }
    }
}

impl LayerMap for Residual {
    fn variance(&self, k: f64) -> f64 {
        k + self.inner.iter().fold(k, |k, m| m.variance(k))
    }

    fn pair(&self, s: &PairState, k11: f64, k22: f64) -> PairState {
        let branch = self.inner.iter().fold(*s, |state, m| m.apply(&state));
        PairState {
            k11,
            k12: s.k12 + branch.k12,
            k22,
            ntk: s.ntk + branch.ntk,
        }
    }

    fn ends_layer(&self) -> bool {
        true
    }

    fn singular(&self, s: &PairState) -> bool {
        let mut state = *s;
        for m in &self.inner {
            if m.singular(&state) {
                return true;
            }
            state = m.apply(&state);
        }
        false
    }
}

/// A stack of layer maps; the kernel is their fold.
#[derive(Debug)]
pub struct Network {
    layers: Vec<Box<dyn LayerMap>>,
}

impl Network {
    /// A network from its maps (applied in order).
    pub fn new(layers: Vec<Box<dyn LayerMap>>) -> Self {
        Network { layers }
    }

    /// The maps.
    pub fn layers(&self) -> &[Box<dyn LayerMap>] {
        &self.layers
    }

    /// The per-point variances after each map, starting from Σ⁰ = ⟨x,x⟩/n0 (length = maps + 1).
    pub fn variance_trace(&self, k0: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.layers.len() + 1);
        out.push(k0);
        let mut k = k0;
        for layer in &self.layers {
            k = layer.variance(k);
            out.push(k);
        }
        out
    }

    /// The output state for a pair, given both points' variance traces.
    pub fn fold_with(
        &self,
        s0: PairState,
        trace1: &[f64],
        trace2: &[f64],
        mut record: impl FnMut(usize, &PairState),
    ) -> PairState {
        let mut s = s0;
        for (i, layer) in self.layers.iter().enumerate() {
            s = layer.pair(&s, trace1[i + 1], trace2[i + 1]);
            if layer.ends_layer() {
                record(i, &s);
            }
        }
        s
    }

    /// Whether one of the maps `0..=last` is [`LayerMap::singular`] on its way from `s0` (with
    /// both points' variance traces): then an infinite kernel value after map `last` is the
    /// theory's, not an overflow.
    pub fn singular_until(
        &self,
        s0: PairState,
        trace1: &[f64],
        trace2: &[f64],
        last: usize,
    ) -> bool {
        let mut s = s0;
        for (i, layer) in self.layers.iter().enumerate().take(last + 1) {
            if layer.singular(&s) {
                return true;
            }
            s = layer.pair(&s, trace1[i + 1], trace2[i + 1]);
        }
        false
    }

    /// The output state for a pair of inputs.
    pub fn pair(&self, x: &[f64], y: &[f64]) -> PairState {
        let s0 = PairState::from_inputs(x, y);
        self.layers.iter().fold(s0, |s, layer| layer.apply(&s))
    }

    /// The states after each dense layer (layers 1 … L) for a pair of inputs.
    pub fn pair_layers(&self, x: &[f64], y: &[f64]) -> Vec<PairState> {
        let s0 = PairState::from_inputs(x, y);
        let t1 = self.variance_trace(s0.k11);
        let t2 = self.variance_trace(s0.k22);
        let mut out = Vec::new();
        self.fold_with(s0, &t1, &t2, |_, s| out.push(*s));
        out
    }
}
