//! One network of the fused engine: f32 parameters on the host, the buffers of a training step,
//! and the step itself compiled once per instruction set.

use super::kernels::{backward_update, forward, transpose};
use super::lanes::{Lane, LANES};
use super::simd::{Portable, Simd16};
use crate::activation::{Activation, Surrogate};
use crate::mlp::MlpConfig;

/// Rows of every layer input are padded to a multiple of this (zero weights, zero activations),
/// so the vector loops need no scalar tails.
const PAD: usize = LANES;

fn padded(n: usize) -> usize {
    n.div_ceil(PAD) * PAD
}

/// The fixed shape of a training problem: the network's widths and the number of points.
#[derive(Clone, Debug)]
pub struct Shape {
    /// n_0 … n_L.
    pub widths: Vec<usize>,
    /// Padded input width of layer l (= row stride of W^{l+1}).
    pub strides: Vec<usize>,
    /// Training points d.
    pub points: usize,
    /// ⌈d / 16⌉ groups of 16 points.
    pub panels: usize,
}

impl Shape {
    /// The shape of `config` trained on `points` points.
    pub fn new(config: &MlpConfig, points: usize) -> Shape {
        let depth = config.depth();
        Shape {
            widths: config.widths.clone(),
            strides: config.widths[..depth].iter().map(|&n| padded(n)).collect(),
            points,
            panels: points.div_ceil(LANES),
        }
    }

    fn depth(&self) -> usize {
        self.widths.len() - 1
    }
}

/// The constants of one training run.
#[derive(Clone, Debug)]
pub struct StepRule {
    /// (s_w, s_b) of every layer, from [`crate::MlpConfig::layer_scales`] (κ on the last layer).
    pub scales: Vec<(f32, f32)>,
    /// φ.
    pub activation: Activation,
    /// The backward derivative (σ̃, or φ' for [`Surrogate::True`]).
    pub backward: Surrogate,
}

/// f32 parameters of one network: W^l row-major with padded rows, b^l.
#[derive(Clone, Debug)]
pub struct HostNet {
    w: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
}

impl HostNet {
    /// Member `k` of an ensemble whose layer l has row-major weights `weights[l]`
    /// (`[E, n_{l+1}, n_l]`) and biases `biases[l]` (`[E, n_{l+1}]`), rounded to f32 and with
    /// every weight row padded to the layer's stride.
    pub fn from_rows(shape: &Shape, weights: &[Vec<f32>], biases: &[Vec<f32>], k: usize) -> Self {
        let mut w = Vec::with_capacity(weights.len());
        let mut b = Vec::with_capacity(weights.len());
        for l in 0..shape.depth() {
            let (n_out, n_in, stride) = (shape.widths[l + 1], shape.widths[l], shape.strides[l]);
            let src = &weights[l][k * n_out * n_in..(k + 1) * n_out * n_in];
            let mut wl = vec![0.0f32; n_out * stride];
            for (dst, row) in wl.chunks_exact_mut(stride).zip(src.chunks_exact(n_in)) {
                dst[..n_in].copy_from_slice(row);
            }
            w.push(wl);
            b.push(biases[l][k * n_out..(k + 1) * n_out].to_vec());
        }
        HostNet { w, b }
    }

    /// Appends layer `l`'s weights without padding (row-major) and biases to `weights`, `biases`.
    pub fn push_rows(
        &self,
        shape: &Shape,
        l: usize,
        weights: &mut Vec<f32>,
        biases: &mut Vec<f32>,
    ) {
        let (n_in, stride) = (shape.widths[l], shape.strides[l]);
        for row in self.w[l].chunks_exact(stride) {
            weights.extend_from_slice(&row[..n_in]);
        }
        biases.extend_from_slice(&self.b[l]);
    }
}

/// The buffers of a training step (allocated once per network).
#[derive(Clone, Debug)]
pub struct Work {
    /// A^0 (the inputs) … A^{L−1}: `panels × strides[l]` lanes each; padded rows stay zero.
    act: Vec<Vec<Lane>>,
    /// H^1 … H^L: `panels × n_{l+1}` lanes.
    pre: Vec<Vec<Lane>>,
    /// g(H^l) of the hidden layers.
    deriv: Vec<Vec<Lane>>,
    /// Targets, `panels × n_L` lanes (zero outside the points).
    target: Vec<Lane>,
    /// Which lanes hold points (1) or padding (0), per panel.
    valid: Vec<Lane>,
    at: Vec<f32>,
    t: Vec<Lane>,
    tt: Vec<f32>,
    delta: Vec<Lane>,
    scaled: Vec<Lane>,
}

impl Work {
    /// Buffers for `shape`, with inputs `x` (d × n_0) and targets `y` (d × n_L) loaded.
    pub fn new(shape: &Shape, x: &nalgebra::DMatrix<f64>, y: &nalgebra::DMatrix<f64>) -> Work {
        let depth = shape.depth();
        let panels = shape.panels;
        let act: Vec<Vec<Lane>> = (0..depth)
            .map(|l| vec![Lane::ZERO; panels * shape.strides[l]])
            .collect();
        let pre = (0..depth)
            .map(|l| vec![Lane::ZERO; panels * shape.widths[l + 1]])
            .collect();
        let deriv = (0..depth.saturating_sub(1))
            .map(|l| vec![Lane::ZERO; panels * shape.widths[l + 1]])
            .collect();
        let n0 = shape.widths[0];
        let n_out = shape.widths[depth];
        let mut work = Work {
            act,
            pre,
            deriv,
            target: vec![Lane::ZERO; panels * n_out],
            valid: vec![Lane::ZERO; panels],
            at: Vec::new(),
            t: Vec::new(),
            tt: Vec::new(),
            delta: Vec::new(),
            scaled: Vec::new(),
        };
        for point in 0..shape.points {
            let (q, p) = (point / LANES, point % LANES);
            for j in 0..n0 {
                work.act[0][q * shape.strides[0] + j].0[p] = x[(point, j)] as f32;
            }
            for o in 0..n_out {
                work.target[q * n_out + o].0[p] = y[(point, o)] as f32;
            }
            work.valid[q].0[p] = 1.0;
        }
        let widest = shape.strides.iter().copied().max().unwrap_or(0);
        work.at = vec![0.0; panels * LANES * widest];
        work.t = vec![Lane::ZERO; panels * widest];
        work.tt = vec![0.0; panels * LANES * widest];
        work
    }
}

/// The body of one full-batch step: forward pass, loss L = 1/(2d) Σ ‖f − y‖² (returned, before
/// the update), then, if `lr > 0`, the δ-recursion of [`crate::backprop`] and the update, layer
/// by layer from the top.
#[inline(always)]
fn step_body<S: Simd16, const R: usize>(
    shape: &Shape,
    rule: &StepRule,
    net: &mut HostNet,
    work: &mut Work,
    lr: f32,
) -> f64 {
    let depth = shape.depth();
    let panels = shape.panels;
    let scale = |l: usize| rule.scales[l].0;
    let bias_scale = |l: usize| rule.scales[l].1;
    for l in 0..depth {
        let (stride, n_out) = (shape.strides[l], shape.widths[l + 1]);
        for q in 0..panels {
            forward::<S, R>(
                &net.w[l],
                &net.b[l],
                scale(l),
                bias_scale(l),
                &work.act[l][q * stride..(q + 1) * stride],
                &mut work.pre[l][q * n_out..(q + 1) * n_out],
            );
        }
        if l + 1 < depth {
            let next_stride = shape.strides[l + 1];
            for q in 0..panels {
                for k in 0..n_out {
                    let h = work.pre[l][q * n_out + k];
                    work.act[l + 1][q * next_stride + k] = rule.activation.eval(h);
                    work.deriv[l][q * n_out + k] = rule.backward.eval(&rule.activation, h);
                }
            }
        }
    }
    // δ^L = (f − y)/d on the points, 0 on padding lanes.
    let n_out = shape.widths[depth];
    let d = shape.points as f32;
    let mut loss = 0.0f64;
    work.delta.clear();
    for q in 0..panels {
        for o in 0..n_out {
            let k = q * n_out + o;
            let r = work.pre[depth - 1][k]
                .zip(work.target[k], |f, y| f - y)
                .zip(work.valid[q], |r, v| r * v);
            loss += r.0.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
            work.delta.push(r.map(|v| v / d));
        }
    }
    loss /= 2.0 * shape.points as f64;
    if lr == 0.0 {
        return loss;
    }
    for l in (0..depth).rev() {
        let (stride, n_in) = (shape.strides[l], shape.widths[l]);
        let at = &mut work.at[..panels * LANES * stride];
        for q in 0..panels {
            transpose(
                &work.act[l][q * stride..(q + 1) * stride],
                &mut at[q * LANES * stride..(q + 1) * LANES * stride],
            );
        }
        let tt = &mut work.tt[..panels * LANES * stride];
        let t = (l > 0).then(|| (&mut work.t[..panels * stride], tt));
        backward_update::<S, R>(
            &mut net.w[l],
            &mut net.b[l],
            &work.delta,
            at,
            panels,
            scale(l),
            lr * scale(l),
            lr * bias_scale(l),
            t,
            &mut work.scaled,
        );
        if l > 0 {
            // δ^{l} = (s · W^{l+1}ᵀ δ^{l+1}) ⊙ g(H^l), on the n_l real rows of each panel.
            work.delta.clear();
            for q in 0..panels {
                for k in 0..n_in {
                    let g = work.deriv[l - 1][q * n_in + k];
                    work.delta.push(work.t[q * stride + k].zip(g, |u, v| u * v));
                }
            }
        }
    }
    loss
}

/// The instruction sets the step is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX-512F (and FMA).
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Any CPU: plain arrays, separate multiply and add.
    Portable,
}

impl Isa {
    /// The fastest instruction set this CPU supports.
    pub fn detect() -> Isa {
        Isa::supported()[0]
    }

    /// Whether this CPU can run `self` (feature detection is cached by std).
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every instruction set this CPU can run (for tests that compare them).
    pub fn supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }
}

/// One training step (see [`step_body`]) on the given instruction set; returns the loss
/// before the step.
///
/// # Panics
/// If `isa` is not supported by this CPU (use [`Isa::detect`]).
pub fn step(
    isa: Isa,
    shape: &Shape,
    rule: &StepRule,
    net: &mut HostNet,
    work: &mut Work,
    lr: f32,
) -> f64 {
    assert!(isa.is_supported(), "{isa:?} is not supported here");
    let _flush = FlushDenormals::new();
    match isa {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::step_avx512(shape, rule, net, work, lr) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::step_avx2(shape, rule, net, work, lr) },
        _ => step_body::<Portable, 4>(shape, rule, net, work, lr),
    }
}

/// Flushes subnormal results and inputs to zero (x86 MXCSR FTZ + DAZ) while alive, restoring
/// the previous mode on drop.
///
/// Steep activations make g(H) underflow (erf_20' = 0 beyond |h| ≈ 0.47 in f32), and products
/// with such values are subnormal: each one costs a ~100-cycle microcode assist, which made a
/// width-1000 erf:20 step 10× slower. Values below 1.2e-38 do not change any f32 sum here.
struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
            let saved = mxcsr::get();
            mxcsr::set(saved | FTZ_DAZ);
            FlushDenormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        mxcsr::set(self.saved);
    }
}

#[cfg(target_arch = "x86_64")]
mod mxcsr {
    /// The SSE control/status register.
    pub fn get() -> u32 {
        let mut csr = 0u32;
        // SAFETY: stmxcsr stores the 32-bit register to a valid local (SSE is baseline x86-64).
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr
    }

    /// Writes the SSE control/status register.
    pub fn set(csr: u32) {
        // SAFETY: ldmxcsr loads a valid local; only rounding/flush/mask bits are changed.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::fused::simd::{Avx2, Avx512};

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn step_avx512(
        shape: &Shape,
        rule: &StepRule,
        net: &mut HostNet,
        work: &mut Work,
        lr: f32,
    ) -> f64 {
        step_body::<Avx512, 8>(shape, rule, net, work, lr)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn step_avx2(
        shape: &Shape,
        rule: &StepRule,
        net: &mut HostNet,
        work: &mut Work,
        lr: f32,
    ) -> f64 {
        step_body::<Avx2, 4>(shape, rule, net, work, lr)
    }
}
