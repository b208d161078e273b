//! The kernel state and the per-layer maps (the `stax` design).
//!
//! Between layers a pair (x, x') carries position-indexed covariances (one position when flat):
//! Σ(x, x')[p, p'] and I(x, x')[p, p'] at the position pairs the network needs ([`Pairs`]), and
//! each point's same-position variances Σ(x, x)[p, p] (its *trace*, computed once per point). A
//! Flatten readout needs only same positions (p, p) — every map keeps them closed, cost ∝
//! positions — and global average pooling needs every pair (p, p'), cost ∝ positions²
//! (docs/MATH.md §5; neural-tangents' `diagonal_spatial`).

use std::borrow::Cow;
use std::sync::Arc;

use sgntk_model::{Activation, DerivativePair, Shape, Surrogate};

use super::closed_form::{
    arcsine_scale, nonlinearity_step, pair_expectations, pair_expectations_with_derivative,
    ScalarFn,
};
pub use super::lanes::mul_inf_safe;
use super::lanes::{map1, map2, update_state, LanesState, Unchanged};
use super::quadrature::GaussHermiteRule;
use super::spec::Method;
use super::KernelError;

/// Which position pairs a [`PairState`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairs {
    /// Same positions (p, p): `P` values. Exact for every network without global average pooling.
    Same,
    /// All pairs (p, p'), row-major `P × P` values.
    All,
}

/// The states of a block of pairs (x_b, x'_b) between layers, at `P` positions each (1 when
/// flat); a single pair is a block of one.
///
/// `k12 = Σ(x, x')` and `ntk = I(x, x')` (the NTK or the generalized/SG-NTK; +∞ for the singular
/// sign NTK on the diagonal) at the position pairs of `pairs`, `entries` values per pair (P for
/// same positions, P² for all pairs), pair after pair. The variances Σ(x, x)[p, p] and
/// Σ(x', x')[p, p] travel beside the state (see [`LayerMap::pair`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PairState {
    /// Which position pairs `k12` and `ntk` hold.
    pub pairs: Pairs,
    /// Values per pair.
    pub entries: usize,
    /// Σ(x, x') at the position pairs, pair after pair.
    pub k12: Vec<f64>,
    /// I(x, x') at the position pairs (0 before the first layer), pair after pair.
    pub ntk: Vec<f64>,
    /// I(x', x), the kernel of the pairs in the other order, where a fold computes both orders
    /// from one Σ (Σ is symmetric; [`LayerMap::swaps`]); empty otherwise.
    pub swapped: Vec<f64>,
}

impl PairState {
    /// The input "layer" of one pair of inputs of shape `shape` (rows in (h, w, c) order):
    /// Σ⁰[p, p'] = 1/C Σ_c x[p, c] x'[p', c] and I = 0, so that the first [`Dense`] map yields
    /// Σ^1 = σw²/n0 ⟨x,x'⟩ + σb² and I^1 = Σ^1 (and the first conv its analogue).
    pub fn from_inputs(x: &[f64], y: &[f64], shape: &Shape, pairs: Pairs) -> Self {
        let mut s = PairState::empty(pairs, entries(pairs, shape.positions()), 1);
        s.push_inputs(x, y, shape);
        s
    }

    /// A block without pairs, with room for `capacity` pairs of `entries` values.
    pub fn empty(pairs: Pairs, entries: usize, capacity: usize) -> Self {
        PairState {
            pairs,
            entries,
            k12: Vec::with_capacity(entries * capacity),
            ntk: Vec::with_capacity(entries * capacity),
            swapped: Vec::new(),
        }
    }

    /// Appends the input state of the pair (x, y) ([`PairState::from_inputs`]).
    pub fn push_inputs(&mut self, x: &[f64], y: &[f64], shape: &Shape) {
        let (p, c) = (shape.positions(), shape.channels);
        let dot =
            |i: usize, j: usize| dot(&x[i * c..(i + 1) * c], &y[j * c..(j + 1) * c]) / c as f64;
        match self.pairs {
            Pairs::Same => self.k12.extend((0..p).map(|i| dot(i, i))),
            Pairs::All => self.k12.extend((0..p * p).map(|k| dot(k / p, k % p))),
        }
        self.ntk.resize(self.k12.len(), 0.0);
    }

    /// The number of pairs in the block.
    pub fn count(&self) -> usize {
        self.k12.len().checked_div(self.entries).unwrap_or(0)
    }

    /// The same-position values Σ(x, x')[p, p] of every pair, pair after pair (the variances
    /// when x = x').
    pub fn diagonal(&self) -> Vec<f64> {
        same_positions(self.pairs, self.entries, &self.k12)
    }

    /// The state a [`Flatten`](super::conv::Flatten) readout sees for pair `b`: the means over
    /// positions of the same-position Σ and I (the values themselves when flat).
    pub fn flattened(&self, b: usize) -> (f64, f64) {
        let e = self.entries;
        if e == 1 {
            return (self.k12[b], self.ntk[b]);
        }
        let mean = |v: &[f64]| {
            let pair = &v[b * e..(b + 1) * e];
            match self.pairs {
                Pairs::Same => pair.iter().sum::<f64>() / e as f64,
                Pairs::All => {
                    let p = e.isqrt();
                    (0..p).map(|i| pair[i * p + i]).sum::<f64>() / p as f64
                }
            }
        };
        (mean(&self.k12), mean(&self.ntk))
    }
}

/// Σ_k a_k b_k, summed in order from −0.0 (as `Sum` does).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| u * v).sum()
}

/// Values per pair for `positions` positions held as `pairs`.
pub(super) fn entries(pairs: Pairs, positions: usize) -> usize {
    match pairs {
        Pairs::Same => positions,
        Pairs::All => positions * positions,
    }
}

/// The (p, p) entries of position-pair values `v` (pairs of `entries` values, held as `pairs`),
/// pair after pair.
pub(super) fn same_positions(pairs: Pairs, entries: usize, v: &[f64]) -> Vec<f64> {
    match pairs {
        Pairs::Same => v.to_vec(),
        Pairs::All => {
            let p = entries.isqrt();
            v.chunks(entries.max(1))
                .flat_map(|pair| (0..p).map(move |i| pair[i * p + i]))
                .collect()
        }
    }
}

/// One layer map of the kernel recursion.
///
/// A map sends a block of pair states to the next ([`LayerMap::pair`]), given both points'
/// same-position variances at its input, pair by pair. A point's variances after the map are
/// the same-position values of the map applied to the pair (x, x)
/// ([`Network::variance_trace`]), so they are computed once per point.
pub trait LayerMap: Send + Sync + std::fmt::Debug {
    /// The new states from the block `s` (taken by value: maps that keep the shape of the
    /// state update it in place); `d1[b·P + p] = Σ(x_b, x_b)[p, p]` and
    /// `d2[b·P + p] = Σ(x'_b, x'_b)[p, p]` at the map's input (P values per pair; `s` holds P
    /// or P² values per pair as its `pairs` says). Each pair's state is computed as it would
    /// be alone (a block of one gives the same bits).
    fn pair(&self, d1: &[f64], d2: &[f64], s: PairState) -> Result<PairState, KernelError>;
    /// Positions at the output for `positions` at the input (a convolution may shrink them,
    /// a readout makes them 1).
    fn out_positions(&self, positions: usize) -> usize {
        positions
    }
    /// Values the map reads beside the variances that depend on one point only, computed
    /// once per point ([`Network::point_value_columns`]) instead of once per pair: one per
    /// variance in `d`, a function of that variance alone (for a nonlinearity whose Σ' is an
    /// arcsine kernel, 1/√(Σ(x, x) + s): [`super::closed_form::arcsine_scale`]). Empty (the
    /// default) for maps without.
    fn point_values(&self, _d: &[f64]) -> Vec<f64> {
        Vec::new()
    }
    /// [`LayerMap::pair`] given both points' variances `[d1, d2]` and their
    /// [`LayerMap::point_values`] `[v1, v2]` laid out as the variances: the same state bit for
    /// bit (`pair` computes the values itself). The default ignores the values.
    fn pair_with(
        &self,
        [d1, d2]: [&[f64]; 2],
        _values: [&[f64]; 2],
        s: PairState,
    ) -> Result<PairState, KernelError> {
        self.pair(d1, d2, s)
    }
    /// The map as a [`Dense`] map, if it is one (for [`LayerMap::pair_after`]).
    fn dense(&self) -> Option<&Dense> {
        None
    }
    /// The Dense map `pre` and then this map on the block `s` in one pass, in place, where the
    /// map can (the state [`LayerMap::pair_with`] gives after `pre.pair`, bit for bit; the
    /// variances and values are this map's); false, with `s` unchanged, where it cannot (the
    /// default).
    fn pair_after(
        &self,
        _pre: &Dense,
        _variances: [&[f64]; 2],
        _values: [&[f64]; 2],
        _s: &mut PairState,
    ) -> bool {
        false
    }
    /// False for maps that never read the variances `d1`, `d2` of [`LayerMap::pair`] (a
    /// block's fold then need not lay them out for them).
    fn uses_variances(&self) -> bool {
        true
    }
    /// True for maps that need every position pair ([`Pairs::All`]): global average pooling.
    fn needs_all_pairs(&self) -> bool {
        false
    }
    /// True for maps whose output is a layer's pre-activation (Σ^l, I^l), recorded by
    /// [`Network::pair_layers`].
    fn ends_layer(&self) -> bool {
        false
    }
    /// Whether this map is singular at some pair of the block `s` (with the variances `d1`,
    /// `d2` as in [`LayerMap::pair`]): its value there is one of the theory's infinite values
    /// (docs/MATH.md §5: the derivative kernel E[g1(u) g2(v)] of a Dirac δ — sign' = 2δ,
    /// step' = δ — where (u, v) ~ N(0, Λ) is degenerate), so that the kernel is ±∞ by
    /// definition, not by overflow. Maps with no such point keep the default `false`.
    fn singular(&self, _d1: &[f64], _d2: &[f64], _s: &PairState) -> bool {
        false
    }
    /// True when the map also carries [`PairState::swapped`] — I of the pairs in the other order,
    /// I(x', x) — and its Σ' is symmetric in the pair, so that a kernel of one set of points
    /// against itself computes both triangles of an asymmetric kernel (the SG-NTK) from one Σ.
    /// Flat same-position maps only; the default `false` is always safe.
    fn swaps(&self) -> bool {
        false
    }
    /// True when the map is symmetric: it sends the state of (x', x) to the transpose of the
    /// state of (x, x') (same positions: the same values) for every pair, so that a kernel
    /// matrix of one set of points against itself is symmetric and its lower triangle can be
    /// mirrored from the upper one. The default `false` is always safe.
    fn symmetric(&self) -> bool {
        false
    }
}

/// The variances (Σ(x, x)[p, p], Σ(x', x')[p', p']) of every entry of the block `s`, entry by
/// entry: (p, p) for same positions (the slices themselves), (p, p') = (k / P, k % P) for all
/// pairs (and so any values laid out as the variances, e.g. [`LayerMap::point_values`]; empty
/// ones stay empty).
fn variances<'a>(s: &PairState, [d1, d2]: [&'a [f64]; 2]) -> [Cow<'a, [f64]>; 2] {
    let count = s.count();
    let p = d1.len().checked_div(count).unwrap_or(0);
    if s.pairs == Pairs::Same || p == 0 {
        return [Cow::Borrowed(d1), Cow::Borrowed(d2)];
    }
    let (mut l11, mut l22) = (
        Vec::with_capacity(s.k12.len()),
        Vec::with_capacity(s.k12.len()),
    );
    for b in 0..count {
        let (a, c) = (&d1[b * p..(b + 1) * p], &d2[b * p..(b + 1) * p]);
        for k in 0..s.entries {
            l11.push(a[k / p]);
            l22.push(c[k % p]);
        }
    }
    [Cow::Owned(l11), Cow::Owned(l22)]
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

    #[inline(always)]
    fn pre(&self, k: f64) -> f64 {
        self.sigma_w * self.sigma_w * k + self.sigma_b * self.sigma_b
    }
}

impl LayerMap for Dense {
    fn pair(&self, _: &[f64], _: &[f64], mut s: PairState) -> Result<PairState, KernelError> {
        let w2 = self.sigma_w * self.sigma_w;
        let PairState {
            k12, ntk, swapped, ..
        } = &mut s;
        // Σ', I' and the swapped pairs' I' in one pass in SIMD lanes; σw² · I needs the 0 · ∞
        // guard only where σw² is 0 or infinite
        if w2 != 0.0 && w2.is_finite() {
            update_state([&[]; 4], k12, ntk, swapped, DenseLanes::<false>(*self));
        } else {
            update_state([&[]; 4], k12, ntk, swapped, DenseLanes::<true>(*self));
        }
        Ok(s)
    }

    fn ends_layer(&self) -> bool {
        true
    }

    fn dense(&self) -> Option<&Dense> {
        Some(self)
    }

    fn uses_variances(&self) -> bool {
        false
    }

    fn swaps(&self) -> bool {
        true
    }

    fn symmetric(&self) -> bool {
        true
    }
}

/// [`Dense`]'s step at one entry: (Σ', I', swapped I') = κ² (P, P + σw² I, P + σw² I_swapped),
/// P = σw² Σ + σb² (`GUARD`: σw² · I with 0 · ∞ = 0).
#[derive(Clone, Copy)]
struct DenseLanes<const GUARD: bool>(Dense);

impl<const GUARD: bool> LanesState for DenseLanes<GUARD> {
    #[inline(always)]
    fn eval(&self, _: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3] {
        let dense = &self.0;
        let k2 = dense.kappa * dense.kappa;
        let w2 = dense.sigma_w * dense.sigma_w;
        let times_w2 = |v: f64| if GUARD { mul_inf_safe(w2, v) } else { w2 * v };
        let p = dense.pre(k12);
        [
            k2 * p,
            k2 * (p + times_w2(ntk)),
            k2 * (p + times_w2(swapped)),
        ]
    }
}

/// Nonlinearity layer a = φ(h) with derivative g1 on the first argument and g2 on the second, at
/// every position pair (p, p') alike:
///
/// ```text
/// Σ'[p,p'] = E[φ(u) φ(v)],   I'[p,p'] = I[p,p'] · E[g1(u) g2(v)],
/// (u, v) ~ N(0, Λ),  Λ = [[Σ(x,x)[p,p], Σ(x,x')[p,p']], [Σ(x,x')[p,p'], Σ(x',x')[p',p']]].
/// ```
///
/// The expectations of a block are evaluated together ([`pair_expectations`]: closed forms in
/// SIMD lanes, batched quadrature).
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

    /// The step `pre` and then this map on the block `s` in one pass in SIMD lanes, where its
    /// expectations are closed forms without integrals ([`nonlinearity_step`]; the variances
    /// `[d1, d2]` and [`LayerMap::point_values`] `values` as in [`LayerMap::pair_with`]); false,
    /// with `s` unchanged, where they are not.
    fn step_in_lanes(
        &self,
        pre: impl LanesState + Copy,
        [d1, d2]: [&[f64]; 2],
        [v1, v2]: [&[f64]; 2],
        s: &mut PairState,
    ) -> bool {
        // variances and scales entry by entry
        let [l11, l22] = variances(s, [d1, d2]);
        let [r1, r2] = variances(s, [v1, v2]);
        let derivs = self.derivs.as_ref().map(|(g1, g2)| [g1, g2]);
        let PairState {
            k12, ntk, swapped, ..
        } = s;
        nonlinearity_step(
            pre,
            &self.phi,
            derivs,
            self.method,
            [&l11, &l22],
            [&r1, &r2],
            k12,
            ntk,
            swapped,
        )
    }

    /// `out[n]` = E[f(u) g(v)] at every entry n of a block whose covariances are `l11`, `l12`,
    /// `l22`.
    fn expect_into(
        &self,
        f: &ScalarFn,
        g: &ScalarFn,
        [l11, l12, l22]: [&[f64]; 3],
        out: &mut [f64],
    ) {
        pair_expectations(f, g, [l11, l12, l22], self.method, &self.rule, out);
    }

    /// E[f(u) g(v)] at every entry of a block whose covariances are `l11`, `l12`, `l22`.
    fn expect(&self, f: &ScalarFn, g: &ScalarFn, l: [&[f64]; 3]) -> Vec<f64> {
        let mut out = vec![0.0; l[1].len()];
        self.expect_into(f, g, l, &mut out);
        out
    }
}

thread_local! {
    /// Two spare buffers of [`Nonlinearity`]'s maps on this thread (no allocation per block).
    static SCRATCH: std::cell::Cell<(Vec<f64>, Vec<f64>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

impl LayerMap for Nonlinearity {
    fn pair(&self, d1: &[f64], d2: &[f64], s: PairState) -> Result<PairState, KernelError> {
        let (v1, v2) = (self.point_values(d1), self.point_values(d2));
        self.pair_with([d1, d2], [&v1, &v2], s)
    }

    /// The scales 1/√(Σ(x, x) + s) of an arcsine kernel Σ' (erf, sign, step) with closed forms.
    fn point_values(&self, d: &[f64]) -> Vec<f64> {
        match arcsine_scale(&self.phi) {
            Some(scale) if self.method == Method::Auto => d.iter().map(|&v| scale(v)).collect(),
            _ => Vec::new(),
        }
    }

    fn pair_with(
        &self,
        [d1, d2]: [&[f64]; 2],
        values: [&[f64]; 2],
        mut s: PairState,
    ) -> Result<PairState, KernelError> {
        if self.step_in_lanes(Unchanged, [d1, d2], values, &mut s) {
            return Ok(s);
        }
        let [l11, l22] = variances(&s, [d1, d2]);
        let (l11, l22) = (&l11[..], &l22[..]);
        // E[g1 g2] (multiplied into I in place) and E[φ φ] (the new Σ) in two buffers of this
        // thread; the old Σ's buffer is kept for the thread's next block
        let (mut e, mut phi) = SCRATCH.with(|b| b.take());
        // every entry is written below: old values may stay
        e.resize(s.k12.len(), 0.0);
        phi.resize(s.k12.len(), 0.0);
        let l = [l11, &s.k12[..], l22];
        match &self.derivs {
            Some((g1, g2)) => {
                pair_expectations_with_derivative(
                    &self.phi,
                    [g1, g2],
                    l,
                    self.method,
                    &self.rule,
                    &mut phi,
                    &mut e,
                );
                map2(&mut s.ntk, &e, mul_inf_safe);
                if !s.swapped.is_empty() {
                    // the pairs (x', x): the covariance with its variances swapped
                    self.expect_into(g1, g2, [l22, &s.k12, l11], &mut e);
                    map2(&mut s.swapped, &e, mul_inf_safe);
                }
            }
            None => {
                s.ntk.fill(0.0);
                s.swapped.fill(0.0);
                self.expect_into(&self.phi, &self.phi, l, &mut phi);
            }
        }
        let old = std::mem::replace(&mut s.k12, phi);
        SCRATCH.with(|b| b.set((e, old)));
        Ok(s)
    }

    /// Dense maps with a finite, nonzero σw (no 0 · ∞ guard) in the same pass.
    fn pair_after(
        &self,
        pre: &Dense,
        variances: [&[f64]; 2],
        values: [&[f64]; 2],
        s: &mut PairState,
    ) -> bool {
        let w2 = pre.sigma_w * pre.sigma_w;
        w2 != 0.0
            && w2.is_finite()
            && self.step_in_lanes(DenseLanes::<false>(*pre), variances, values, s)
    }

    /// Σ' = E[φ(u) φ(v)] is symmetric in (u, v).
    fn swaps(&self) -> bool {
        true
    }

    /// Symmetric when g1 = g2 (E[φ(u) φ(v)] and E[g(u) g(v)] are symmetric in (u, v)).
    fn symmetric(&self) -> bool {
        self.derivs.is_none_or(|(g1, g2)| g1 == g2)
    }

    /// Singular where E[g1(u) g2(v)] is infinite at some position pair with a δ among
    /// (g1, g2): the closed forms give ±∞ only there (det(Λ + diag(s, s')) = 0, or a δ at a
    /// point of zero variance).
    fn singular(&self, d1: &[f64], d2: &[f64], s: &PairState) -> bool {
        let Some((g1, g2)) = self.derivs.as_ref() else {
            return false;
        };
        if !(g1.is_delta() || g2.is_delta()) {
            return false;
        }
        let [l11, l22] = variances(s, [d1, d2]);
        self.expect(g1, g2, [&l11, &s.k12, &l22])
            .iter()
            .any(|e| e.is_infinite())
    }
}

/// Residual block y = h + F(h) around the maps `inner` of the branch F (typically
/// Nonlinearity(φ, g1, g2) → Dense(σw, σb), shapes equal), at every position pair alike:
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
    fn pair(&self, d1: &[f64], d2: &[f64], mut s: PairState) -> Result<PairState, KernelError> {
        // The branch's own variance traces: same positions close under its maps (no readout).
        let (t1, t2) = (
            self_trace(&self.inner, d1, &s)?,
            self_trace(&self.inner, d2, &s)?,
        );
        let mut branch = s.clone();
        for (i, m) in self.inner.iter().enumerate() {
            branch = m.pair(&t1[i], &t2[i], branch)?;
        }
        let add = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut s.k12, &branch.k12);
        add(&mut s.ntk, &branch.ntk);
        add(&mut s.swapped, &branch.swapped);
        Ok(s)
    }

    fn ends_layer(&self) -> bool {
        true
    }

    fn swaps(&self) -> bool {
        self.inner.iter().all(|m| m.swaps())
    }

    fn symmetric(&self) -> bool {
        self.inner.iter().all(|m| m.symmetric())
    }

    fn singular(&self, d1: &[f64], d2: &[f64], s: &PairState) -> bool {
        let (Ok(t1), Ok(t2)) = (
            self_trace(&self.inner, d1, s),
            self_trace(&self.inner, d2, s),
        ) else {
            return false;
        };
        let mut branch = s.clone();
        for (i, m) in self.inner.iter().enumerate() {
            if m.singular(&t1[i], &t2[i], &branch) {
                return true;
            }
            match m.pair(&t1[i], &t2[i], branch) {
                Ok(next) => branch = next,
                Err(_) => return false,
            }
        }
        false
    }
}

/// The same-position variances of the points of the block `s` after each of `maps`
/// (`maps.len() + 1` vectors, the first `d`, P values per pair), from the same-position fold of
/// (x, x). Exact for maps that keep same positions closed (every map but global average
/// pooling).
fn self_trace(
    maps: &[Box<dyn LayerMap>],
    d: &[f64],
    s: &PairState,
) -> Result<Vec<Vec<f64>>, KernelError> {
    let mut out = vec![d.to_vec()];
    let mut s = PairState {
        pairs: Pairs::Same,
        entries: d.len().checked_div(s.count()).unwrap_or(0),
        k12: d.to_vec(),
        ntk: vec![0.0; d.len()],
        swapped: Vec::new(),
    };
    for m in maps {
        let last = out.last().expect("nonempty");
        s = m.pair(last, last, s)?;
        out.push(s.k12.clone());
    }
    Ok(out)
}

/// One side of a block of pairs for [`Network::fold_block`]: the same point in every pair, or
/// one point per pair.
#[derive(Clone, Copy, Debug)]
pub enum Side<'a> {
    /// One point: its input row and its variance trace ([`Network::variance_trace`]).
    Fixed {
        /// The input row.
        x: &'a [f64],
        /// Its same-position variances before each map.
        trace: &'a [&'a [f64]],
    },
    /// Point b of pair b: the input rows one after the other, and before each map m the
    /// points' variances one point after the other (`columns[m]`, a slice of
    /// [`Network::variance_columns`]).
    Each {
        /// The input rows, row after row.
        xs: &'a [f64],
        /// The same inputs value by value: `by_input[k][b]` is value k of pair b's input (a
        /// column of a column-major input matrix), read in SIMD lanes for flat inputs. May be
        /// empty: then `xs` is read.
        by_input: &'a [&'a [f64]],
        /// The variances before each map.
        columns: &'a [&'a [f64]],
        /// Each map's [`LayerMap::point_values`] of the points, point after point (slices of
        /// [`Network::point_value_columns`]; empty for maps without, or all empty: then they
        /// are computed pair by pair).
        values: &'a [&'a [f64]],
    },
}

impl<'a> Side<'a> {
    /// The same point in every pair.
    pub fn fixed(x: &'a [f64], trace: &'a [&'a [f64]]) -> Self {
        Side::Fixed { x, trace }
    }

    /// The input of pair b (rows of `len` values).
    fn point(&self, b: usize, len: usize) -> &'a [f64] {
        match *self {
            Side::Fixed { x, .. } => x,
            Side::Each { xs, .. } => &xs[b * len..(b + 1) * len],
        }
    }

    /// The variances and the maps' [`LayerMap::point_values`] before each map for `count`
    /// pairs: a fixed point's repeated into the buffers of `pool` for the maps that read them
    /// (empty for the others).
    fn per_pair<'b>(
        &self,
        count: usize,
        pool: &'b mut Vec<Vec<f64>>,
        maps: &[Box<dyn LayerMap>],
    ) -> (Vec<&'b [f64]>, Vec<&'b [f64]>)
    where
        'a: 'b,
    {
        match *self {
            Side::Fixed { trace, .. } => {
                pool.resize_with(trace.len() + maps.len(), Vec::new);
                let (variances, values) = pool.split_at_mut(trace.len());
                for (m, (buffer, d)) in variances.iter_mut().zip(trace).enumerate() {
                    let used = maps.get(m).is_some_and(|l| l.uses_variances());
                    repeat_into(buffer, if used { d } else { &[] }, count);
                }
                for ((buffer, map), d) in values.iter_mut().zip(maps).zip(trace) {
                    repeat_into(buffer, &map.point_values(d), count);
                }
                let (variances, values) = pool.split_at(trace.len());
                (slices(variances), slices(values))
            }
            Side::Each {
                columns, values, ..
            } => (columns.to_vec(), values.to_vec()),
        }
    }
}

/// `buffer` = `d` `count` times (doubled until it is there, as `repeat` does).
fn repeat_into(buffer: &mut Vec<f64>, d: &[f64], count: usize) {
    buffer.clear();
    if let [value] = d {
        // one position: a fill (stores only)
        buffer.resize(count, *value);
        return;
    }
    buffer.extend_from_slice(d);
    let len = count * d.len();
    while buffer.len() < len {
        buffer.extend_from_within(..buffer.len().min(len - buffer.len()));
    }
    buffer.truncate(len);
}

/// The vectors of `v` as slices.
fn slices(v: &[Vec<f64>]) -> Vec<&[f64]> {
    v.iter().map(|v| &v[..]).collect()
}

/// An observer of the states after the maps that end a layer (map index, state).
type Record<'r> = &'r mut dyn FnMut(usize, &PairState);

/// Buffers of the variances before each map, one per map.
type Traces = Vec<Vec<f64>>;

thread_local! {
    /// The buffers of [`Side::variances`] on this thread (for both sides of a block).
    static REPEATED: std::cell::Cell<(Traces, Traces)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// A stack of layer maps on inputs of one shape; the kernel is their fold.
#[derive(Debug)]
pub struct Network {
    input: Shape,
    pairs: Pairs,
    layers: Vec<Box<dyn LayerMap>>,
    /// The derivative pair its nonlinearities were built with (`Some(None)`: NNGP maps only),
    /// when known ([`Network::built_for`]).
    built: Option<Option<DerivativePair>>,
}

impl Network {
    /// A network on inputs of shape `input` from its maps (applied in order), tracking the
    /// cheapest exact position pairs: [`Pairs::All`] when a map needs them, else
    /// [`Pairs::Same`].
    pub fn new(input: Shape, layers: Vec<Box<dyn LayerMap>>) -> Self {
        let pairs = if layers.iter().any(|m| m.needs_all_pairs()) {
            Pairs::All
        } else {
            Pairs::Same
        };
        Network {
            input,
            pairs,
            layers,
            built: None,
        }
    }

    /// The same network tracking `pairs` (all pairs give the same kernels at a higher cost);
    /// fails for [`Pairs::Same`] when a map needs all pairs.
    pub fn with_pairs(mut self, pairs: Pairs) -> Result<Self, KernelError> {
        if pairs == Pairs::Same && self.pairs == Pairs::All {
            return Err(KernelError::Unsupported(
                "global average pooling needs every position pair (Pairs::All)".into(),
            ));
        }
        self.pairs = pairs;
        Ok(self)
    }

    /// The same network, recorded as built with the derivative pair `derivs` (`None`: NNGP maps
    /// only), so that a kernel of another kind is refused ([`Network::check_kind`]).
    pub fn built_for(mut self, derivs: Option<DerivativePair>) -> Self {
        self.built = Some(derivs);
        self
    }

    /// Fails when `kind` asks for another derivative pair than the maps were built with (the NNGP
    /// is always there; a network of unknown origin, from [`Network::new`], is not checked).
    pub fn check_kind(&self, kind: super::KernelKind) -> Result<(), KernelError> {
        use super::KernelKind;
        let Some(built) = self.built else {
            return Ok(());
        };
        let fits = match kind {
            KernelKind::Nngp => true,
            KernelKind::Ntk => built == Some(DerivativePair::NTK),
            KernelKind::SgNtk => built.is_some_and(|p| p.g1 == sgntk_model::Surrogate::True),
            KernelKind::Generalized { g1, g2 } => built == Some(DerivativePair { g1, g2 }),
        };
        if fits {
            return Ok(());
        }
        let built = match built {
            None => "the NNGP only".to_string(),
            Some(p) => format!("the derivative pair (g1 = {}, g2 = {})", p.g1, p.g2),
        };
        Err(KernelError::Unsupported(format!(
            "these kernel maps were built for {built}, not for {kind:?}: build them for the kind you ask (spec_network(spec, kind, …))"
        )))
    }

    /// The maps.
    pub fn layers(&self) -> &[Box<dyn LayerMap>] {
        &self.layers
    }

    /// The input shape.
    pub fn input(&self) -> &Shape {
        &self.input
    }

    /// The position pairs the fold tracks.
    pub fn pairs(&self) -> Pairs {
        self.pairs
    }

    /// The number of values a state holds at its largest (per position-pair vector), for
    /// memory checks: max over the maps' inputs and outputs of P (same positions) or P².
    pub fn state_len(&self) -> u64 {
        let mut p = self.input.positions() as u64;
        let mut most = p;
        for m in &self.layers {
            p = m.out_positions(p as usize) as u64;
            most = most.max(p);
        }
        match self.pairs {
            Pairs::Same => most,
            Pairs::All => most.saturating_mul(most),
        }
    }

    /// The total number of same-position variances of one point's trace (over the input and
    /// every map's output).
    pub fn trace_len(&self) -> u64 {
        let mut p = self.input.positions() as u64;
        let mut total = p;
        for m in &self.layers {
            p = m.out_positions(p as usize) as u64;
            total = total.saturating_add(p);
        }
        total
    }

    /// The same-position variances Σ(x, x)[p, p] of input `x` before and after each map
    /// (maps + 1 vectors), from the fold of the pair (x, x).
    pub fn variance_trace(&self, x: &[f64]) -> Result<Vec<Vec<f64>>, KernelError> {
        let mut s = PairState::from_inputs(x, x, &self.input, self.pairs);
        let mut out = vec![s.diagonal()];
        for layer in &self.layers {
            let d = out.last().expect("nonempty");
            s = layer.pair(d, d, s)?;
            out.push(s.diagonal());
        }
        Ok(out)
    }

    /// The output state for a pair, given both points' variance traces; `record(i, state)` after
    /// each map that ends a layer.
    pub fn fold_with(
        &self,
        s0: PairState,
        trace1: &[impl AsRef<[f64]>],
        trace2: &[impl AsRef<[f64]>],
        mut record: impl FnMut(usize, &PairState),
    ) -> Result<PairState, KernelError> {
        let t1: Vec<&[f64]> = trace1.iter().map(AsRef::as_ref).collect();
        let t2: Vec<&[f64]> = trace2.iter().map(AsRef::as_ref).collect();
        let (v1, v2) = (self.point_value_columns(&t1), self.point_value_columns(&t2));
        self.fold_with_values(s0, [&t1, &t2], [&v1, &v2], Some(&mut record))
    }

    /// [`Network::fold_with`] given also both points' [`LayerMap::point_values`] before each
    /// map.
    fn fold_with_values(
        &self,
        s0: PairState,
        [trace1, trace2]: [&[impl AsRef<[f64]>]; 2],
        [values1, values2]: [&[impl AsRef<[f64]>]; 2],
        mut record: Option<Record<'_>>,
    ) -> Result<PairState, KernelError> {
        let mut s = s0;
        let mut i = 0;
        let at = |i: usize| {
            (
                [trace1[i].as_ref(), trace2[i].as_ref()],
                [values1[i].as_ref(), values2[i].as_ref()],
            )
        };
        while i < self.layers.len() {
            let layer = &self.layers[i];
            // without records, a Dense map and the map after it in one pass where it can
            if let (None, Some(dense), Some(next)) =
                (&record, layer.dense(), self.layers.get(i + 1))
            {
                let (d, v) = at(i + 1);
                if next.pair_after(dense, d, v, &mut s) {
                    i += 2;
                    continue;
                }
            }
            let (d, v) = at(i);
            s = layer.pair_with(d, v, s)?;
            if let Some(record) = record.as_mut().filter(|_| layer.ends_layer()) {
                record(i, &s);
            }
            i += 1;
        }
        Ok(s)
    }

    /// Each map's [`LayerMap::point_values`] of several points from their variance columns
    /// ([`Network::variance_columns`]), point after point (empty for maps without).
    pub fn point_value_columns(&self, columns: &[impl AsRef<[f64]>]) -> Vec<Vec<f64>> {
        self.layers
            .iter()
            .zip(columns)
            .map(|(m, d)| m.point_values(d.as_ref()))
            .collect()
    }

    /// The input state of a pair (x, x').
    pub fn input_state(&self, x: &[f64], y: &[f64]) -> PairState {
        PairState::from_inputs(x, y, &self.input, self.pairs)
    }

    /// Whether one of the maps `0..=last` is [`LayerMap::singular`] on its way from `s0` (with
    /// both points' variance traces): then an infinite kernel value after map `last` is the
    /// theory's, not an overflow.
    pub fn singular_until(
        &self,
        s0: PairState,
        trace1: &[impl AsRef<[f64]>],
        trace2: &[impl AsRef<[f64]>],
        last: usize,
    ) -> bool {
        let mut s = s0;
        for (i, layer) in self.layers.iter().enumerate().take(last + 1) {
            let (d1, d2) = (trace1[i].as_ref(), trace2[i].as_ref());
            if layer.singular(d1, d2, &s) {
                return true;
            }
            match layer.pair(d1, d2, s) {
                Ok(next) => s = next,
                Err(_) => return false,
            }
        }
        false
    }

    /// The variance traces of the points `xs` (input rows one after the other), laid out for
    /// [`Network::fold_block`]: vector m holds every point's same-position variances before
    /// map m (the last: after every map), point after point, so that a block of consecutive
    /// points is a slice of it. One fold of the block of pairs (x, x): each point's values are
    /// its [`Network::variance_trace`] bit for bit (a block computes each pair as alone).
    pub fn variance_columns(&self, xs: &[f64]) -> Result<Vec<Vec<f64>>, KernelError> {
        let len = self.input.len();
        let count = xs.len().checked_div(len).unwrap_or(0);
        let mut s = PairState::empty(
            self.pairs,
            entries(self.pairs, self.input.positions()),
            count,
        );
        for x in xs.chunks_exact(len.max(1)).take(count) {
            s.push_inputs(x, x, &self.input);
        }
        let mut out = vec![s.diagonal()];
        for layer in &self.layers {
            let d = out.last().expect("nonempty");
            s = layer.pair(d, d, s)?;
            out.push(s.diagonal());
        }
        Ok(out)
    }

    /// The output states of a block of pairs (x_b, y_b), b = 0, 1, …: each side is one point for
    /// every pair or one point per pair ([`Side`]); `record(i, block)` after each map that ends
    /// a layer. Every pair's state is computed as it would be alone, whichever side is fixed.
    ///
    /// With `both` (only for a network that [`Network::swaps`]) the states also carry
    /// [`PairState::swapped`], the kernel of the pairs (y_b, x_b).
    pub fn fold_block(
        &self,
        first: Side<'_>,
        second: Side<'_>,
        both: bool,
        mut record: impl FnMut(usize, &PairState),
    ) -> Result<PairState, KernelError> {
        self.fold_block_recording(first, second, both, Some(&mut record))
    }

    /// The output states of [`Network::fold_block`] without the layers' (a Dense map and the
    /// map after it may then run as one pass: [`LayerMap::pair_after`]).
    pub fn fold_block_output(
        &self,
        first: Side<'_>,
        second: Side<'_>,
        both: bool,
    ) -> Result<PairState, KernelError> {
        self.fold_block_recording(first, second, both, None)
    }

    fn fold_block_recording(
        &self,
        first: Side<'_>,
        second: Side<'_>,
        both: bool,
        record: Option<Record<'_>>,
    ) -> Result<PairState, KernelError> {
        let len = self.input.len();
        let count = match (&first, &second) {
            (Side::Each { xs, .. }, _) | (_, Side::Each { xs, .. }) => {
                xs.len().checked_div(len).unwrap_or(0)
            }
            _ => 1,
        };
        let mut s0 = PairState::empty(
            self.pairs,
            entries(self.pairs, self.input.positions()),
            count,
        );
        if self.input.is_flat() {
            // one value per pair, ⟨x, y⟩ / n0 (as push_inputs computes it: each sum in `dot`'s
            // order, from −0.0, k = 0, 1, …), the pairs in SIMD lanes where the inputs come
            // value by value, and the quotients in lanes
            match (first, second) {
                (Side::Fixed { x, .. }, Side::Each { by_input, .. })
                | (Side::Each { by_input, .. }, Side::Fixed { x, .. })
                    if by_input.len() == len =>
                {
                    s0.k12.resize(count, -0.0);
                    for (&xk, y) in x.iter().zip(by_input) {
                        map2(&mut s0.k12, y, |v, y| v + xk * y);
                    }
                }
                _ => s0
                    .k12
                    .extend((0..count).map(|b| dot(first.point(b, len), second.point(b, len)))),
            }
            let n0 = len as f64;
            map1(&mut s0.k12, |v| v / n0);
        } else {
            for b in 0..count {
                s0.push_inputs(first.point(b, len), second.point(b, len), &self.input);
            }
        }
        s0.ntk.resize(s0.k12.len(), 0.0);
        if both {
            s0.swapped.resize(s0.k12.len(), 0.0);
        }
        // the fixed sides' variances and point values repeated for every pair, in this
        // thread's buffers
        let mut pools = REPEATED.with(|p| p.take());
        let result = {
            let (pool1, pool2) = (&mut pools.0, &mut pools.1);
            let (d1, mut v1) = first.per_pair(count, pool1, &self.layers);
            let (d2, mut v2) = second.per_pair(count, pool2, &self.layers);
            // values not given by a side: computed pair by pair
            let computed;
            if v1.len() != self.layers.len() || v2.len() != self.layers.len() {
                computed = [&d1, &d2].map(|d| self.point_value_columns(d));
                (v1, v2) = (slices(&computed[0]), slices(&computed[1]));
            }
            self.fold_with_values(s0, [&d1, &d2], [&v1, &v2], record)
        };
        REPEATED.with(|p| p.set(pools));
        result
    }

    /// The output state for a pair of inputs (a block of one).
    pub fn pair(&self, x: &[f64], y: &[f64]) -> Result<PairState, KernelError> {
        let (t1, t2) = (self.variance_trace(x)?, self.variance_trace(y)?);
        let (t1, t2) = (slices(&t1), slices(&t2));
        self.fold_block(Side::fixed(x, &t1), Side::fixed(y, &t2), false, |_, _| {})
    }

    /// The states after each map that ends a layer (dense layers 1 … L of an MLP) for a pair of
    /// inputs.
    pub fn pair_layers(&self, x: &[f64], y: &[f64]) -> Result<Vec<PairState>, KernelError> {
        let (t1, t2) = (self.variance_trace(x)?, self.variance_trace(y)?);
        let (t1, t2) = (slices(&t1), slices(&t2));
        let mut out = Vec::new();
        self.fold_block(Side::fixed(x, &t1), Side::fixed(y, &t2), false, |_, s| {
            out.push(s.clone())
        })?;
        Ok(out)
    }

    /// True when the fold can carry both orders of its pairs ([`LayerMap::swaps`]): a flat
    /// input, same positions and every map swapping.
    pub fn swaps(&self) -> bool {
        self.input.is_flat() && self.pairs == Pairs::Same && self.layers.iter().all(|m| m.swaps())
    }

    /// True when every map is [`LayerMap::symmetric`]: the kernel matrix of a set of points
    /// against itself is then symmetric (to rounding) — the NNGP always, the NTK and every
    /// generalized kernel with g1 = g2, never the SG-NTK (g1 ≠ g2).
    pub fn symmetric(&self) -> bool {
        self.layers.iter().all(|m| m.symmetric())
    }
}
