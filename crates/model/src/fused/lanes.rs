//! Sixteen f32 lanes, one per training point: the element type of the fused CPU engine.
//!
//! A hidden layer of width n over P ≤ 16 points is stored as n [`Lane`]s (point p in lane p,
//! unused lanes zero), so every matrix product of a training step becomes a sequence of
//! lane-wide fused multiply-adds that the compiler vectorizes (one AVX-512 register per lane
//! vector). The element-wise functions (`exp`, `erf`) are branch-free polynomial/rational
//! approximations with f32 accuracy, so they vectorize too.

/// Number of lanes (training points per panel).
pub const LANES: usize = 16;

/// One value per training point.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Lane(pub [f32; LANES]);

impl Lane {
    /// All lanes zero.
    pub const ZERO: Lane = Lane([0.0; LANES]);

    /// All lanes `c`.
    #[inline(always)]
    pub fn splat(c: f32) -> Lane {
        Lane([c; LANES])
    }

    /// Lane-wise `f(self)`.
    #[inline(always)]
    pub fn map(self, f: impl Fn(f32) -> f32) -> Lane {
        let mut out = self.0;
        for v in out.iter_mut() {
            *v = f(*v);
        }
        Lane(out)
    }

    /// Lane-wise `f(self, other)`.
    #[inline(always)]
    pub fn zip(self, other: Lane, f: impl Fn(f32, f32) -> f32) -> Lane {
        let mut out = self.0;
        for (v, o) in out.iter_mut().zip(other.0) {
            *v = f(*v, o);
        }
        Lane(out)
    }

    /// Sum of the lanes.
    #[inline(always)]
    pub fn sum(self) -> f32 {
        self.0.iter().sum()
    }
}

/// e^x in f32 (Cephes `expf`: x = k ln 2 + r, degree-6 polynomial in r; relative error ≈ 2e-7),
/// clamped to the normal f32 range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let kf = t - ROUND;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // k = kf as an integer, read from the mantissa of t (t's ulp is 1), which vectorizes where
    // a saturating float-to-int cast does not.
    let k = t.to_bits() as i32 - ROUND.to_bits() as i32;
    y * f32::from_bits(((k + 127) as u32) << 23)
}

/// erf(x) in f32: the rational approximation used by Eigen and XLA on [−4, 4] (absolute error
/// below 1e-6), ±1 beyond.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_5e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_3e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

/// Lane-wise versions of the element-wise operations, so every [`crate::Activation`] and
/// [`crate::Surrogate`] formula runs unchanged on lanes.
impl crate::activation::Elementwise for Lane {
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.zip(other, |a, b| a + b)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        self.zip(other, |a, b| a * b)
    }
    #[inline(always)]
    fn add_scalar(self, c: f64) -> Self {
        let c = c as f32;
        self.map(|a| a + c)
    }
    #[inline(always)]
    fn mul_scalar(self, c: f64) -> Self {
        let c = c as f32;
        self.map(|a| a * c)
    }
    #[inline(always)]
    fn full_like(&self, c: f64) -> Self {
        Lane::splat(c as f32)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        self.map(exp)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        self.map(erf)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        // 1 − 2/(e^{2x} + 1): exact at ±∞, absolute error ~1e-7 near 0.
        self.map(|x| 1.0 - 2.0 / (exp(2.0 * x) + 1.0))
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        self.map(|x| 1.0 / (1.0 + exp(-x)))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.map(f32::abs)
    }
    #[inline(always)]
    fn recip(self) -> Self {
        self.map(|x| 1.0 / x)
    }
    /// sign(x), with sign(NaN) = NaN: a NaN pre-activation must reach the loss (and the
    /// divergence check) instead of becoming 0.
    #[inline(always)]
    fn sign(self) -> Self {
        self.map(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                // ±0 → +0, NaN → NaN (branch-free, so the lane loop vectorizes)
                x * 0.0 + 0.0
            }
        })
    }
    /// max(x, 0), with relu(NaN) = NaN (as for [`Self::sign`]).
    #[inline(always)]
    fn relu(self) -> Self {
        self.map(|x| if x <= 0.0 { 0.0 } else { x })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0.0f64;
        let mut worst_erf = 0.0f64;
        for i in -20000..=20000 {
            // Compare at the f32 argument, so only the function's own error counts.
            let x = (i as f64 * 4e-3) as f32; // [-80, 80]
            let want = (x as f64).exp();
            worst_exp = worst_exp.max((exp(x) as f64 - want).abs() / want);
            let y = x / 10.0; // [-8, 8]: erf saturates beyond 4
            worst_erf = worst_erf.max((erf(y) as f64 - libm::erf(y as f64)).abs());
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
        assert_eq!(erf(0.0), 0.0);
        assert!(exp(-1e4) >= 0.0 && exp(-1e4) < 1e-37);
    }

    #[test]
    fn sign_and_relu_keep_nan() {
        use crate::activation::Elementwise;
        let lane = Lane::splat(f32::NAN);
        assert!(lane.sign().0.iter().all(|v| v.is_nan()));
        assert!(lane.relu().0.iter().all(|v| v.is_nan()));
        assert!(lane.heaviside().0.iter().all(|v| v.is_nan()));
        let mixed = Lane(std::array::from_fn(|i| i as f32 - 3.0));
        assert_eq!(mixed.sign().0[..5], [-1.0, -1.0, -1.0, 0.0, 1.0]);
        assert_eq!(mixed.relu().0[..5], [0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn activations_on_lanes_match_f64() {
        use crate::{Activation, Surrogate};
        let zs: [f64; LANES] = std::array::from_fn(|i| (i as f64 - 7.3) * 0.41);
        let lane = Lane(zs.map(|z| z as f32));
        let acts = [
            Activation::Erf { m: 5.0 },
            Activation::Sign,
            Activation::Step,
            Activation::Relu,
            Activation::Tanh,
            Activation::Identity,
        ];
        for act in acts {
            let got = act.eval(lane);
            for (p, z) in zs.iter().enumerate() {
                let want = act.eval(*z);
                assert!((got.0[p] as f64 - want).abs() < 2e-6, "{act} at {z}");
            }
            let got = act.derivative(lane);
            for (p, z) in zs.iter().enumerate() {
                let want = act.derivative(*z);
                let tol = 2e-6 * want.abs().max(1.0);
                assert!((got.0[p] as f64 - want).abs() < tol, "{act}' at {z}");
            }
            for g in Surrogate::FAMILIES {
                let got = g.eval(&act, lane);
                for (p, z) in zs.iter().enumerate() {
                    let want = g.eval(&act, *z);
                    let tol = 2e-6 * want.abs().max(1.0);
                    assert!((got.0[p] as f64 - want).abs() < tol, "{g} at {z}");
                }
            }
        }
    }
}
