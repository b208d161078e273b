//! Elementwise loops over blocks of kernel entries in SIMD lanes, and the special functions they
//! need written branch-free so that the loops vectorize.
//!
//! [`map3`] runs `out[n] = f(a[n], b[n], c[n])` compiled for the best instruction set of the CPU
//! through macerator's run-time dispatch (AVX-512, AVX2, SSE4.2, NEON or scalar, the dispatch of
//! the fused training engine): inside it `f` is inlined and the loop is vectorized by the
//! compiler, 8 f64 lanes on AVX-512. Rust never contracts a multiply and an add into an FMA, so
//! every lane computes exactly what the scalar `f` computes: a block gives the same bits as
//! entries one at a time.
//!
//! [`asin`] and [`acos`] are FreeBSD's `e_asin.c` / `e_acos.c` (the algorithms of the `libm`
//! crate, error < 1 ulp) with every branch computed and selected, so that they vectorize.

use macerator::{AutoArch, Simd, WithSimd};
use sgntk_model::Elementwise;

/// A function of three lanes, inlined into the dispatched loop of [`map3`] (a trait rather than
/// a closure: `#[inline(always)]` on its method makes the compiler inline it into every
/// instruction set's loop, which it does not always do for a closure as large as an arcsine).
pub trait Lanes3 {
    /// The value at (a, b, c).
    fn eval(&self, a: f64, b: f64, c: f64) -> f64;
}

/// Two functions of the same three lanes evaluated together (sharing their work), inlined into
/// the dispatched loop of [`map3_pair`] (see [`Lanes3`]).
pub trait Lanes3Pair {
    /// The two values at (a, b, c).
    fn eval(&self, a: f64, b: f64, c: f64) -> (f64, f64);
}

/// A function of one lane, inlined into the dispatched loop of [`map1`] (see [`Lanes3`]).
pub trait Lanes1 {
    /// The value at z.
    fn eval(&self, z: f64) -> f64;
}

/// `out[n] = f(a[n], b[n], c[n])` for every n, vectorized (module docs).
///
/// # Panics
/// If the slices differ in length.
pub fn map3(a: &[f64], b: &[f64], c: &[f64], out: &mut [f64], f: impl Lanes3) {
    assert!(a.len() == out.len() && b.len() == out.len() && c.len() == out.len());
    AutoArch::new().dispatch(Map3 { a, b, c, out, f });
}

struct Map3<'a, F> {
    a: &'a [f64],
    b: &'a [f64],
    c: &'a [f64],
    out: &'a mut [f64],
    f: F,
}

impl<F: Lanes3> WithSimd for Map3<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        let Map3 { a, b, c, out, f } = self;
        for (((o, &x), &y), &z) in out.iter_mut().zip(a).zip(b).zip(c) {
            *o = f.eval(x, y, z);
        }
    }
}

/// `(out1[n], out2[n]) = f(a[n], b[n], c[n])` for every n, vectorized like [`map3`].
///
/// # Panics
/// If the slices differ in length.
pub fn map3_pair([a, b, c]: [&[f64]; 3], out1: &mut [f64], out2: &mut [f64], f: impl Lanes3Pair) {
    let n = out1.len();
    assert!(a.len() == n && b.len() == n && c.len() == n && out2.len() == n);
    AutoArch::new().dispatch(Map3Pair {
        a,
        b,
        c,
        out1,
        out2,
        f,
    });
}

struct Map3Pair<'a, F> {
    a: &'a [f64],
    b: &'a [f64],
    c: &'a [f64],
    out1: &'a mut [f64],
    out2: &'a mut [f64],
    f: F,
}

impl<F: Lanes3Pair> WithSimd for Map3Pair<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        let Map3Pair {
            a,
            b,
            c,
            out1,
            out2,
            f,
        } = self;
        for ((((o1, o2), &x), &y), &z) in out1.iter_mut().zip(out2.iter_mut()).zip(a).zip(b).zip(c)
        {
            (*o1, *o2) = f.eval(x, y, z);
        }
    }
}

/// `a · b` with 0 · ∞ = 0 (a zero factor always wins: a vanishing derivative kernel switches the
/// earlier layers off even where I^l = +∞).
#[inline(always)]
pub fn mul_inf_safe(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        0.0
    } else {
        a * b
    }
}

/// One map's step of a block's state at one entry, inlined into the dispatched loop of
/// [`update_state`] (see [`Lanes3`]).
pub trait LanesState {
    /// The new (Σ, I, I of the swapped pair) from both points' variances (`l11`, `l22`), their
    /// values of [`super::LayerMap::point_values`] (`r1`, `r2`) and the old values.
    fn eval(&self, point: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3];
}

/// The step that changes nothing.
#[derive(Clone, Copy, Debug)]
pub struct Unchanged;

impl LanesState for Unchanged {
    #[inline(always)]
    fn eval(&self, _: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3] {
        [k12, ntk, swapped]
    }
}

/// Step `A`, then step `B` on its values (the per-point inputs are `B`'s: `A` reads none).
#[derive(Clone, Copy, Debug)]
pub struct Then<A, B>(pub A, pub B);

impl<A: LanesState, B: LanesState> LanesState for Then<A, B> {
    #[inline(always)]
    fn eval(&self, point: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3] {
        let [k12, ntk, swapped] = self.0.eval([0.0; 4], k12, ntk, swapped);
        self.1.eval(point, k12, ntk, swapped)
    }
}

/// `[k12[n], ntk[n], swapped[n]] = f([l11[n], l22[n], r1[n], r2[n]], k12[n], ntk[n],
/// swapped[n])` for every n in one pass, vectorized like [`map3`]. The per-point inputs
/// `[l11, l22, r1, r2]` are all empty (for maps that read none: f sees 0.0) or all full;
/// `swapped` may be empty (f sees 0.0 and its third value is dropped).
///
/// # Panics
/// If the slices that are not empty differ in length.
pub fn update_state(
    points: [&[f64]; 4],
    k12: &mut [f64],
    ntk: &mut [f64],
    swapped: &mut [f64],
    f: impl LanesState,
) {
    let n = k12.len();
    assert!(ntk.len() == n && (swapped.is_empty() || swapped.len() == n));
    assert!(points.iter().all(|p| p.is_empty()) || points.iter().all(|p| p.len() == n));
    AutoArch::new().dispatch(UpdateState {
        points,
        k12,
        ntk,
        swapped,
        f,
    });
}

struct UpdateState<'a, F> {
    points: [&'a [f64]; 4],
    k12: &'a mut [f64],
    ntk: &'a mut [f64],
    swapped: &'a mut [f64],
    f: F,
}

impl<F: LanesState> WithSimd for UpdateState<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        let UpdateState {
            points: [l11, l22, r1, r2],
            k12,
            ntk,
            swapped,
            f,
        } = self;
        let state = k12.iter_mut().zip(ntk.iter_mut());
        let points = l11.iter().zip(l22).zip(r1.iter().zip(r2));
        // one loop for each combination of present slices (each with f inlined)
        match (l11.is_empty(), swapped.is_empty()) {
            (false, false) => {
                for (((k, i), w), ((&a, &c), (&r, &q))) in state.zip(swapped.iter_mut()).zip(points)
                {
                    [*k, *i, *w] = f.eval([a, c, r, q], *k, *i, *w);
                }
            }
            (false, true) => {
                for ((k, i), ((&a, &c), (&r, &q))) in state.zip(points) {
                    [*k, *i, _] = f.eval([a, c, r, q], *k, *i, 0.0);
                }
            }
            (true, false) => {
                for ((k, i), w) in state.zip(swapped.iter_mut()) {
                    [*k, *i, *w] = f.eval([0.0; 4], *k, *i, *w);
                }
            }
            (true, true) => {
                for (k, i) in state {
                    [*k, *i, _] = f.eval([0.0; 4], *k, *i, 0.0);
                }
            }
        }
    }
}

/// True when every value is finite (neither ±∞ nor NaN): an or-reduction over the exponent
/// bits without an early exit, in SIMD lanes.
pub fn all_finite(v: &[f64]) -> bool {
    AutoArch::new().dispatch(AllFinite(v))
}

struct AllFinite<'a>(&'a [f64]);

impl WithSimd for AllFinite<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self) -> bool {
        const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
        let nonfinite = self.0.iter().fold(0u64, |any, v| {
            any | u64::from(v.to_bits() & EXPONENT == EXPONENT)
        });
        nonfinite == 0
    }
}

/// A small closure is a [`Lanes1`] (inlined like any other).
impl<F: Fn(f64) -> f64> Lanes1 for F {
    #[inline(always)]
    fn eval(&self, z: f64) -> f64 {
        self(z)
    }
}

/// `v[n] = f(v[n], b[n])` for every n, vectorized like [`map3`] (for small closures: the
/// products and sums of the layer maps).
///
/// # Panics
/// If the slices differ in length.
pub fn map2(v: &mut [f64], b: &[f64], f: impl Fn(f64, f64) -> f64) {
    assert!(v.len() == b.len());
    AutoArch::new().dispatch(Map2 { v, b, f });
}

struct Map2<'a, F> {
    v: &'a mut [f64],
    b: &'a [f64],
    f: F,
}

impl<F: Fn(f64, f64) -> f64> WithSimd for Map2<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        for (x, &y) in self.v.iter_mut().zip(self.b) {
            *x = (self.f)(*x, y);
        }
    }
}

/// `v[n] = f(v[n])` for every n, vectorized like [`map3`].
pub fn map1(v: &mut [f64], f: impl Lanes1) {
    AutoArch::new().dispatch(Map1 { v, f });
}

struct Map1<'a, F> {
    v: &'a mut [f64],
    f: F,
}

impl<F: Lanes1> WithSimd for Map1<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        for x in self.v.iter_mut() {
            *x = self.f.eval(*x);
        }
    }
}

/// tanh in lanes.
pub struct Tanh;

impl Lanes1 for Tanh {
    #[inline(always)]
    fn eval(&self, z: f64) -> f64 {
        tanh(z)
    }
}

// FreeBSD's constants, bit for bit (π/2 = PIO2_HI + PIO2_LO)
const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_LO: f64 = f64::from_bits(0x3C91_A626_3314_5C07);
const P_S0: f64 = f64::from_bits(0x3FC5_5555_5555_5555);
const P_S1: f64 = f64::from_bits(0xBFD4_D612_03EB_6F7D);
const P_S2: f64 = f64::from_bits(0x3FC9_C155_0E88_4455);
const P_S3: f64 = f64::from_bits(0xBFA4_8228_B568_8F3B);
const P_S4: f64 = f64::from_bits(0x3F49_EFE0_7501_B288);
const P_S5: f64 = f64::from_bits(0x3F02_3DE1_0DFD_F709);
const Q_S1: f64 = f64::from_bits(0xC003_3A27_1C8A_2D4B);
const Q_S2: f64 = f64::from_bits(0x4000_2AE5_9C59_8AC8);
const Q_S3: f64 = f64::from_bits(0xBFE6_066C_1B8D_0159);
const Q_S4: f64 = f64::from_bits(0x3FB3_B8C5_B12E_9282);

/// The rational approximation R(z) of (asin(√z) − √z)/√z³ on [0, 0.25] (remez error < 2^−58.75).
#[inline(always)]
fn comp_r(z: f64) -> f64 {
    let p = z * (P_S0 + z * (P_S1 + z * (P_S2 + z * (P_S3 + z * (P_S4 + z * P_S5)))));
    let q = 1.0 + z * (Q_S1 + z * (Q_S2 + z * (Q_S3 + z * Q_S4)));
    p / q
}

/// `s` with the low 32 bits of its mantissa cleared (an exactly squarable head of s).
#[inline(always)]
fn high_part(s: f64) -> f64 {
    f64::from_bits(s.to_bits() & 0xffff_ffff_0000_0000)
}

/// arcsin(x) for x ∈ [−1, 1] (< 1 ulp; NaN outside), branch-free. The branches share one
/// evaluation of R, at the argument of the branch that is taken (the values are those of the
/// branches computed separately, bit for bit).
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let ax = x.abs();
    let is_small = ax < 0.5;
    // |x| < 0.5: x + x R(x²) (= x for |x| < 2^−26, where x R(x²) is below half an ulp)
    // 0.5 ≤ |x| ≤ 1: π/2 − 2 asin(√z), z = (1 − |x|)/2
    let z = (1.0 - ax) * 0.5;
    let r = comp_r(if is_small { x * x } else { z });
    let small = x + x * r;
    let s = z.sqrt();
    let near_one = PIO2_HI - (2.0 * (s + s * r) - PIO2_LO);
    let f = high_part(s);
    let c = (z - f * f) / (s + f);
    let middle = 0.5 * PIO2_HI - (2.0 * s * r - (PIO2_LO - 2.0 * c) - (0.5 * PIO2_HI - 2.0 * f));
    let large = if ax >= f64::from_bits(0x3fef_3333_0000_0000) {
        near_one
    } else {
        middle
    };
    let large = if ax > 1.0 { f64::NAN } else { large };
    if is_small {
        small
    } else {
        large.copysign(x)
    }
}

/// arccos(x) for x ∈ [−1, 1] (< 1 ulp; NaN outside), branch-free, with one evaluation of R and
/// one square root shared by the branches as in [`asin`].
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let is_small = x.abs() < 0.5;
    // x ≤ −0.5: z = (1 + x)/2; x ≥ 0.5: z = (1 − x)/2; s = √z
    let z = if x < 0.0 {
        (1.0 + x) * 0.5
    } else {
        (1.0 - x) * 0.5
    };
    let s = z.sqrt();
    let r = comp_r(if is_small { x * x } else { z });
    // |x| < 0.5: π/2 − (x − (pio2_lo − x R(x²)))
    let small = PIO2_HI - (x - (PIO2_LO - x * r));
    // x ≤ −0.5: 2 (π/2 − (s + R(z) s − pio2_lo))
    let negative = 2.0 * (PIO2_HI - (s + (r * s - PIO2_LO)));
    // x ≥ 0.5: 2 (f + c + R(z) s), f + c = √z
    let f = high_part(s);
    let c = (z - f * f) / (s + f);
    let positive = 2.0 * (f + (r * s + c));
    let positive = if x == 1.0 { 0.0 } else { positive };
    let large = if x < 0.0 { negative } else { positive };
    let large = if x.abs() > 1.0 { f64::NAN } else { large };
    if is_small {
        small
    } else {
        large
    }
}

/// (arcsin x, arccos x) at once, sharing their rational approximation and square root: the
/// values of [`asin`] and [`acos`], bit for bit (for x < 0, acos's 1 + x is asin's 1 − |x|).
#[inline(always)]
pub fn asin_acos(x: f64) -> (f64, f64) {
    let ax = x.abs();
    let is_small = ax < 0.5;
    let z = (1.0 - ax) * 0.5;
    let r = comp_r(if is_small { x * x } else { z });
    let s = z.sqrt();
    let f = high_part(s);
    let c = (z - f * f) / (s + f);
    let out_of_range = ax > 1.0;
    // arcsin, as in `asin`
    let near_one = PIO2_HI - (2.0 * (s + s * r) - PIO2_LO);
    let middle = 0.5 * PIO2_HI - (2.0 * s * r - (PIO2_LO - 2.0 * c) - (0.5 * PIO2_HI - 2.0 * f));
    let large = if ax >= f64::from_bits(0x3fef_3333_0000_0000) {
        near_one
    } else {
        middle
    };
    let large = if out_of_range { f64::NAN } else { large };
    let arcsin = if is_small {
        x + x * r
    } else {
        large.copysign(x)
    };
    // arccos, as in `acos`
    let negative = 2.0 * (PIO2_HI - (s + (r * s - PIO2_LO)));
    let positive = 2.0 * (f + (r * s + c));
    let positive = if x == 1.0 { 0.0 } else { positive };
    let large = if x < 0.0 { negative } else { positive };
    let large = if out_of_range { f64::NAN } else { large };
    let arccos = if is_small {
        PIO2_HI - (x - (PIO2_LO - x * r))
    } else {
        large
    };
    (arcsin, arccos)
}

// FreeBSD's e_exp.c: ln 2 = LN2HI + LN2LO, and the remez polynomial of exp on [−ln2/2, ln2/2]
const LN2HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
const INVLN2: f64 = f64::from_bits(0x3FF7_1547_652B_82FE);
const E_P1: f64 = f64::from_bits(0x3FC5_5555_5555_553E);
const E_P2: f64 = f64::from_bits(0xBF66_C16C_16BE_BD93);
const E_P3: f64 = f64::from_bits(0x3F11_566A_AF25_DE2C);
const E_P4: f64 = f64::from_bits(0xBEBB_BD41_C5D2_6BF1);
const E_P5: f64 = f64::from_bits(0x3E66_3769_72BE_A4D0);

/// e^x for x ∈ [0, 60] (< 1 ulp, FreeBSD's reduction x = k ln2 + r and polynomial), branch-free:
/// 2^k is built from the bits of k + 1.5·2^52.
#[inline(always)]
fn exp_reduced(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    let k = (x * INVLN2 + 0.5).floor();
    let hi = x - k * LN2HI;
    let lo = k * LN2LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (E_P1 + rr * (E_P2 + rr * (E_P3 + rr * (E_P4 + rr * E_P5))));
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    let two_k = f64::from_bits(((k + SHIFT).to_bits().wrapping_add(1023)) << 52);
    y * two_k
}

/// tanh(x) (within a few ulp of the standard library's), branch-free: for |x| < 0.55 the
/// continued fraction x/(1 + x²/(3 + x²/(5 + …))) to 12 levels (truncation below 1e-20 there),
/// above 1 − 2/(e^(2|x|) + 1) (no cancellation: e^(2|x|) ≥ 3), ±1 beyond |x| = 20.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let ax = x.abs();
    let x2 = x * x;
    // the continued fraction's tail as n/d, evaluated from the back: one division in all
    let (mut n, mut d) = (25.0, 1.0);
    for odd in [
        23.0, 21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0,
    ] {
        (n, d) = (odd * n + x2 * d, n);
    }
    let small = x * d / n;
    let e = exp_reduced(2.0 * ax.min(20.0));
    let large = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    if ax < 0.55 {
        small
    } else {
        large
    }
}

/// An f64 in a SIMD lane: [`Elementwise`] with the branch-free [`tanh`], so that the
/// activations' and surrogates' formulas (written once in `sgntk_model::activation`) vectorize
/// inside [`map1`]. exp and erf stay the scalar library calls (correct, not vectorized).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lane(pub f64);

impl Elementwise for Lane {
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Lane(self.0 + other.0)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Lane(self.0 * other.0)
    }
    #[inline(always)]
    fn add_scalar(self, c: f64) -> Self {
        Lane(self.0 + c)
    }
    #[inline(always)]
    fn mul_scalar(self, c: f64) -> Self {
        Lane(self.0 * c)
    }
    #[inline(always)]
    fn full_like(&self, c: f64) -> Self {
        Lane(c)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        Lane(self.0.exp())
    }
    #[inline(always)]
    fn erf(self) -> Self {
        Lane(Elementwise::erf(self.0))
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        Lane(tanh(self.0))
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        Lane(Elementwise::sigmoid(self.0))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Lane(self.0.abs())
    }
    #[inline(always)]
    fn recip(self) -> Self {
        Lane(1.0 / self.0)
    }
    #[inline(always)]
    fn sign(self) -> Self {
        Lane(Elementwise::sign(self.0))
    }
    #[inline(always)]
    fn relu(self) -> Self {
        Lane(Elementwise::relu(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The branch-free ports agree with the libm crate's (the same algorithms) to the bit, and
    /// with the standard library's to 1 ulp, on a dense grid of [−1, 1] (both halves, the branch
    /// points 0.5 and 0.975, the ends, tiny values).
    #[test]
    fn asin_and_acos_match_libm() {
        let mut xs: Vec<f64> = (0..=200_000).map(|k| -1.0 + k as f64 * 1e-5).collect();
        xs.extend([
            0.5,
            -0.5,
            0.975,
            f64::from_bits(0x3fef_3333_0000_0000),
            1.0,
            -1.0,
            0.0,
            -0.0,
            1e-300,
            -3e-20,
            1.0 - f64::EPSILON,
            -1.0 + f64::EPSILON / 2.0,
        ]);
        let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).abs();
        for &x in &xs {
            assert_eq!(asin(x).to_bits(), libm::asin(x).to_bits(), "asin({x:e})");
            assert_eq!(acos(x).to_bits(), libm::acos(x).to_bits(), "acos({x:e})");
            assert!(ulps(asin(x), x.asin()) <= 1, "asin({x:e})");
            assert!(ulps(acos(x), x.acos()) <= 1, "acos({x:e})");
        }
        assert!(asin(1.5).is_nan() && acos(-1.5).is_nan() && asin(f64::NAN).is_nan());
        // all_finite at every position of a vector and remainder
        for n in [1, 7, 8, 9, 33] {
            let v: Vec<f64> = (0..n).map(|k| k as f64 - 3.5).collect();
            assert!(all_finite(&v) && all_finite(&[]));
            for k in 0..n {
                for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN] {
                    let mut w = v.clone();
                    w[k] = bad;
                    assert!(!all_finite(&w), "{bad} at {k} of {n}");
                }
            }
        }
        assert!(all_finite(&[
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0
        ]));
        for &x in &xs {
            let (s, c) = asin_acos(x);
            assert_eq!(s.to_bits(), asin(x).to_bits(), "asin_acos({x:e})");
            assert_eq!(c.to_bits(), acos(x).to_bits(), "asin_acos({x:e})");
        }
        // outside [−1, 1] both are NaN (whose sign bit the arithmetic does not fix)
        for x in [1.5, -1.5, f64::NAN, f64::INFINITY] {
            let (s, c) = asin_acos(x);
            assert!(s.is_nan() && c.is_nan(), "asin_acos({x:e})");
        }
    }

    /// The vector tanh is within 4 ulp of the standard library's on a dense grid (both
    /// branches, the switch at 0.55, tiny and huge arguments), and exp_reduced within 1 ulp.
    #[test]
    fn tanh_matches_std() {
        let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).abs();
        let mut xs: Vec<f64> = (-300_000..=300_000).map(|k| k as f64 * 1e-4).collect();
        xs.extend([
            0.55,
            -0.55,
            0.5499999999999999,
            1e-300,
            -1e-10,
            19.99,
            20.0,
            25.0,
            1e300,
        ]);
        for &x in &xs {
            assert!(
                ulps(tanh(x), x.tanh()) <= 4,
                "tanh({x:e}): {} vs {}",
                tanh(x),
                x.tanh()
            );
        }
        for k in 0..=60_000 {
            let x = k as f64 * 1e-3;
            assert!(ulps(exp_reduced(x), x.exp()) <= 1, "exp({x})");
        }
        let mut v = xs.clone();
        map1(&mut v, Tanh);
        for (a, &x) in v.iter().zip(&xs) {
            assert_eq!(a.to_bits(), tanh(x).to_bits());
        }
    }

    /// `update_state` computes the scalar step lane by lane, to the bit, at every length and
    /// with or without the per-point inputs and the swapped values.
    #[test]
    fn update_state_is_the_scalar_loop() {
        struct F;
        impl LanesState for F {
            fn eval(&self, [a, c, r, q]: [f64; 4], k: f64, i: f64, w: f64) -> [f64; 3] {
                let x = asin(k / (a + c + 4.0)) + r * q;
                [x, mul_inf_safe(i, x), w * x - 1.0]
            }
        }
        for n in [0, 1, 7, 8, 9, 100] {
            let value = |k: usize, f: f64| (k as f64 * f).sin();
            let points: [Vec<f64>; 4] =
                [0.3, 0.5, 0.7, 1.1].map(|f| (0..n).map(|k| 1.0 + value(k, f)).collect());
            for with_points in [true, false] {
                for with_swapped in [true, false] {
                    let mut k12: Vec<f64> = (0..n).map(|k| value(k, 0.37)).collect();
                    let mut ntk: Vec<f64> = (0..n).map(|k| value(k, 0.91) * 3.0).collect();
                    let mut swapped: Vec<f64> = if with_swapped {
                        (0..n).map(|k| value(k, 0.13)).collect()
                    } else {
                        Vec::new()
                    };
                    let before = (k12.clone(), ntk.clone(), swapped.clone());
                    let inputs = if with_points {
                        points.each_ref().map(|p| &p[..])
                    } else {
                        [&[][..]; 4]
                    };
                    update_state(inputs, &mut k12, &mut ntk, &mut swapped, F);
                    for b in 0..n {
                        let point = if with_points {
                            points.each_ref().map(|p| p[b])
                        } else {
                            [0.0; 4]
                        };
                        let w = if with_swapped { before.2[b] } else { 0.0 };
                        let [x, i, w2] = F.eval(point, before.0[b], before.1[b], w);
                        assert_eq!(k12[b].to_bits(), x.to_bits(), "{n} {b}");
                        assert_eq!(ntk[b].to_bits(), i.to_bits(), "{n} {b}");
                        if with_swapped {
                            assert_eq!(swapped[b].to_bits(), w2.to_bits(), "{n} {b}");
                        }
                    }
                    assert_eq!(swapped.len(), if with_swapped { n } else { 0 });
                }
            }
        }
    }

    /// The dispatched loop computes the scalar function lane by lane, to the bit, at every
    /// length (full vectors and a remainder).
    #[test]
    fn map3_is_the_scalar_loop() {
        for n in [0, 1, 7, 8, 9, 100] {
            let a: Vec<f64> = (0..n).map(|k| (k as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|k| 1.0 + k as f64).collect();
            let c: Vec<f64> = (0..n).map(|k| 0.5 - k as f64 * 1e-3).collect();
            struct F;
            impl Lanes3 for F {
                fn eval(&self, x: f64, y: f64, z: f64) -> f64 {
                    asin(x) * y.sqrt() / z + acos(x * z)
                }
            }
            let mut out = vec![0.0; n];
            map3(&a, &b, &c, &mut out, F);
            for k in 0..n {
                assert_eq!(out[k].to_bits(), F.eval(a[k], b[k], c[k]).to_bits());
            }
        }
    }
}
