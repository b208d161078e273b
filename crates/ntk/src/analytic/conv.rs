//! Kernel maps of convolutional networks: convolution, flatten and global average pooling
//! (docs/MATH.md §5 extended to positions; neural-tangents' `stax.Conv`, `Flatten`,
//! `GlobalAvgPool` with `parameterization='ntk'` are the convention anchor).
//!
//! With infinitely many channels every channel of a layer is an independent copy of one
//! Gaussian field over positions, so a pair state is Σ(x, x')[p, p'] and I(x, x')[p, p'] (see
//! [`super::layers`]). The finite layer (`sgntk_model::conv`) is h'[p, c'] = σw/√(C·F)
//! Σ_{q, c} W[c', c, q] a[s(p, q), c] + σb b[c'] with F taps q and s(p, q) the input position
//! that tap q of output p reads (none outside the input for zero padding, modulo the size for
//! circular padding). Its maps, the position analogue of the Dense map (S8–S20, Remark E.3):
//!
//! ```text
//! Conv:     Σ'[p,p'] = σw²/F Σ_q Σ[s(p,q), s(p',q)] + σb²
//!           I'[p,p'] = Σ'[p,p'] + σw²/F Σ_q I[s(p,q), s(p',q)]      (terms with a padded tap: 0)
//! Flatten:  Σ' = 1/P Σ_p Σ[p,p],          I' = 1/P Σ_p I[p,p]         (a Dense then has fan-in P·C)
//! GAP:      Σ' = 1/P² Σ_{p,p'} Σ[p,p'],    I' = 1/P² Σ_{p,p'} I[p,p']  (fan-in C)
//! ```
//!
//! The Σ and I of the input are Σ⁰[p, p'] = 1/C Σ_c x[p, c] x'[p', c], I⁰ = 0
//! ([`super::PairState::from_inputs`]). A convolution maps same positions (p, p) to same
//! positions (s(p, q), s(p, q)) only, so without global average pooling the fold tracks P values
//! per pair; GAP needs all P² pairs ([`super::Pairs`]).

use sgntk_model::{Padding, Shape};

use super::layers::{entries, mul_inf_safe, LayerMap, PairState, Pairs};
use super::KernelError;

/// The convolution map (see the module docs).
#[derive(Clone, Debug)]
pub struct Conv {
    sigma_w: f64,
    sigma_b: f64,
    /// taps[p · F + q]: the input position tap q of output p reads (`u32::MAX`: padding).
    taps: Vec<u32>,
    /// F (taps per output position).
    filter_size: usize,
    in_positions: usize,
    out_positions: usize,
}

/// Marks a tap that reads padding.
const PAD: u32 = u32::MAX;

impl Conv {
    /// The map of a convolution with filter `filter` (one size per spatial axis) and `padding`
    /// on inputs of spatial sizes `input` (validated shapes: the filter fits).
    pub fn new(
        input: &Shape,
        filter: &[usize],
        padding: Padding,
        sigma_w: f64,
        sigma_b: f64,
    ) -> Result<Self, KernelError> {
        let axes: Vec<(usize, usize, usize, usize)> = (input.spatial.iter().zip(filter))
            .map(|(&n, &f)| {
                padding
                    .along(n, f)
                    .map(|(before, _, out)| (n, f, before, out))
                    .ok_or_else(|| {
                        KernelError::Shape(format!(
                            "conv filter {filter:?} does not fit the input {input} with {padding} padding"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        if axes.len() != input.spatial.len() || axes.is_empty() {
            return Err(KernelError::Shape(format!(
                "conv filter {filter:?} on the input {input}"
            )));
        }
        let out_positions: usize = axes.iter().map(|a| a.3).product();
        let filter_size: usize = filter.iter().product();
        let in_positions = input.positions();
        if in_positions >= PAD as usize {
            return Err(KernelError::Shape(format!(
                "input {input} has too many positions"
            )));
        }
        sgntk_model::check_memory(
            "the conv taps",
            &[
                ("positions", out_positions as u64),
                ("taps", filter_size as u64),
                ("bytes", 4),
            ],
        )?;
        let mut taps = Vec::with_capacity(out_positions * filter_size);
        for p in 0..out_positions {
            for q in 0..filter_size {
                taps.push(source(&axes, padding, p, q));
            }
        }
        Ok(Conv {
            sigma_w,
            sigma_b,
            taps,
            filter_size,
            in_positions,
            out_positions,
        })
    }

    fn taps(&self, p: usize) -> &[u32] {
        &self.taps[p * self.filter_size..(p + 1) * self.filter_size]
    }

    /// σw²/F Σ_q v[s(p,q), s(p',q)] for values `v` at `pairs` (p = p' for same positions).
    fn sum(&self, pairs: Pairs, v: &[f64], p: usize, p2: usize) -> f64 {
        let mut sum = 0.0;
        for (&a, &b) in self.taps(p).iter().zip(self.taps(p2)) {
            if a == PAD || b == PAD {
                continue;
            }
            let (a, b) = (a as usize, b as usize);
            sum += match pairs {
                Pairs::Same => v[a],
                Pairs::All => v[a * self.in_positions + b],
            };
        }
        sum
    }
}

/// The input position (row-major over the axes) that tap `q` of output position `p` reads, or
/// [`PAD`]. `axes`: (input size n, filter size f, padding before, output size) per axis.
fn source(axes: &[(usize, usize, usize, usize)], padding: Padding, p: usize, q: usize) -> u32 {
    let (mut p_rest, mut q_rest) = (p, q);
    let mut index = 0usize;
    let mut stride = 1usize;
    // Last axis varies fastest (row-major): peel the axes from the back.
    for &(n, f, before, out) in axes.iter().rev() {
        let (pi, qi) = (p_rest % out, q_rest % f);
        p_rest /= out;
        q_rest /= f;
        let s = (pi + qi) as isize - before as isize;
        let s = match padding {
            Padding::Circular => s.rem_euclid(n as isize) as usize,
            _ if s < 0 || s >= n as isize => return PAD,
            _ => s as usize,
        };
        index += s * stride;
        stride *= n;
    }
    index as u32
}

impl LayerMap for Conv {
    fn pair(&self, _: &[f64], _: &[f64], s: PairState) -> Result<PairState, KernelError> {
        let (w2, b2) = (self.sigma_w * self.sigma_w, self.sigma_b * self.sigma_b);
        let f = self.filter_size as f64;
        let n = self.out_positions;
        let entries = entries(s.pairs, n);
        let mut out = PairState::empty(s.pairs, entries, s.count());
        let e_in = s.entries;
        for b in 0..s.count() {
            let (k_in, i_in) = (
                &s.k12[b * e_in..(b + 1) * e_in],
                &s.ntk[b * e_in..(b + 1) * e_in],
            );
            for k in 0..entries {
                let (p, p2) = match s.pairs {
                    Pairs::Same => (k, k),
                    Pairs::All => (k / n, k % n),
                };
                let k12 = w2 / f * self.sum(s.pairs, k_in, p, p2) + b2;
                let ntk = k12 + mul_inf_safe(w2 / f, self.sum(s.pairs, i_in, p, p2));
                out.k12.push(k12);
                out.ntk.push(ntk);
            }
        }
        Ok(out)
    }

    fn out_positions(&self, _: usize) -> usize {
        self.out_positions
    }

    fn ends_layer(&self) -> bool {
        true
    }

    /// The sum over filter taps pairs the taps of p with those of p' alike.
    fn symmetric(&self) -> bool {
        true
    }
}

/// The flatten readout: the means over positions of the same-position Σ and I.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

impl LayerMap for Flatten {
    fn pair(&self, _: &[f64], _: &[f64], s: PairState) -> Result<PairState, KernelError> {
        let (k12, ntk) = (0..s.count()).map(|b| s.flattened(b)).unzip();
        Ok(PairState {
            pairs: s.pairs,
            entries: 1,
            k12,
            ntk,
            swapped: Vec::new(),
        })
    }

    fn out_positions(&self, _: usize) -> usize {
        1
    }

    fn symmetric(&self) -> bool {
        true
    }
}

/// The global-average-pool readout: the means over all position pairs of Σ and I.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalAveragePool;

impl LayerMap for GlobalAveragePool {
    fn pair(&self, _: &[f64], _: &[f64], s: PairState) -> Result<PairState, KernelError> {
        if s.pairs != Pairs::All {
            return Err(KernelError::Unsupported(
                "global average pooling needs every position pair (Pairs::All)".into(),
            ));
        }
        let mean = |v: &[f64]| -> Vec<f64> {
            v.chunks(s.entries.max(1))
                .map(|pair| pair.iter().sum::<f64>() / pair.len() as f64)
                .collect()
        };
        Ok(PairState {
            pairs: s.pairs,
            entries: 1,
            k12: mean(&s.k12),
            ntk: mean(&s.ntk),
            swapped: Vec::new(),
        })
    }

    fn out_positions(&self, _: usize) -> usize {
        1
    }

    fn needs_all_pairs(&self) -> bool {
        true
    }

    fn symmetric(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::layers::same_positions;
    use super::*;

    #[test]
    fn taps_follow_xla_padding() {
        // 1-D, n = 4, f = 2: same pads (0, 1) (the extra zero after), circular wraps it.
        let shape = Shape::from_dims(&[4, 1]);
        let same = Conv::new(&shape, &[2], Padding::Same, 1.0, 0.0).unwrap();
        assert_eq!(same.taps, [0, 1, 1, 2, 2, 3, 3, PAD]);
        let circ = Conv::new(&shape, &[2], Padding::Circular, 1.0, 0.0).unwrap();
        assert_eq!(circ.taps, [0, 1, 1, 2, 2, 3, 3, 0]);
        let valid = Conv::new(&shape, &[3], Padding::Valid, 1.0, 0.0).unwrap();
        assert_eq!(valid.taps, [0, 1, 2, 1, 2, 3]);
        // f = 3 same: one zero on each side.
        let same3 = Conv::new(&shape, &[3], Padding::Same, 1.0, 0.0).unwrap();
        assert_eq!(same3.taps[..3], [PAD, 0, 1]);
        // 2-D, 2 × 3 input, 1 × 2 filter, valid: output 2 × 2, row-major positions.
        let shape = Shape::from_dims(&[2, 3, 1]);
        let v = Conv::new(&shape, &[1, 2], Padding::Valid, 1.0, 0.0).unwrap();
        assert_eq!(v.taps, [0, 1, 1, 2, 3, 4, 4, 5]);
        assert_eq!(
            same_positions(Pairs::All, 4, &[1.0, 2.0, 3.0, 4.0]),
            [1.0, 4.0]
        );
    }
}
