//! The three matrix products of a training step, on lane-stored activations ([`Lane`]).
//!
//! With W row-major (n_out × n_in), A = n_in lanes, Δ = n_out lanes:
//! - [`forward`]: Z = s · W A + σb · b (one 16-wide FMA per weight, `R` rows at a time so each
//!   loaded activation lane feeds `R` accumulators);
//! - [`backward_update`]: T = s · Wᵀ Δ with the old W, then W ← W − c · Δ Aᵀ and
//!   b ← b − c_b · Σ_p Δ_p, row block by row block, so each block of W comes from memory once
//!   for both (the rank-P update reads the transposed activations Aᵀ, see [`transpose`]).
//!
//! Everything is `#[inline(always)]` and generic over the vector type [`Simd16`], so the step
//! compiled with AVX-512 or AVX2 enabled (see `super::step`) runs on those registers.

use super::lanes::{Lane, LANES};
use super::simd::Simd16;

/// Z[i] = s · Σ_j W[i, j] A[j] + bias_scale · b[i], for every lane.
#[inline(always)]
pub fn forward<S: Simd16, const R: usize>(
    w: &[f32],
    b: &[f32],
    s: f32,
    bias_scale: f32,
    a: &[Lane],
    z: &mut [Lane],
) {
    let n_in = a.len();
    let n_out = z.len();
    assert!(w.len() == n_out * n_in && b.len() == n_out);
    let finish = |acc: S, i: usize, z: &mut [Lane]| {
        let out = S::fmadd(acc, S::splat(s), S::splat(bias_scale * b[i]));
        // SAFETY: z[i] holds 16 floats.
        unsafe { out.store(z[i].0.as_mut_ptr()) };
    };
    let mut i = 0;
    while i + R <= n_out {
        let mut acc = [S::splat(0.0); R];
        let base = w[i * n_in..].as_ptr();
        for (j, aj) in a.iter().enumerate() {
            // SAFETY: a lane holds 16 floats; rows i..i+R have n_in > j entries.
            unsafe {
                let av = S::load(aj.0.as_ptr());
                let col = base.add(j);
                for r in 0..R {
                    acc[r] = S::fmadd(S::splat(*col.add(r * n_in)), av, acc[r]);
                }
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            finish(acc, i + r, z);
        }
        i += R;
    }
    for i in i..n_out {
        let mut acc = S::splat(0.0);
        for (wij, aj) in w[i * n_in..(i + 1) * n_in].iter().zip(a) {
            // SAFETY: a lane holds 16 floats.
            acc = S::fmadd(S::splat(*wij), unsafe { S::load(aj.0.as_ptr()) }, acc);
        }
        finish(acc, i, z);
    }
}

/// Aᵀ: `at[p · n + j] = a[j].0[p]` (LANES rows of length n = a.len()).
#[inline(always)]
pub fn transpose(a: &[Lane], at: &mut [f32]) {
    let n = a.len();
    assert_eq!(at.len(), LANES * n);
    for (j, aj) in a.iter().enumerate() {
        for p in 0..LANES {
            at[p * n + j] = aj.0[p];
        }
    }
}

/// Backward pass and update of one layer over `panels` groups of 16 points.
///
/// If `t` is given: t_q[j] = s · Σ_i W[i, j] Δ_q[i] for every panel q (with W before the
/// update). Then W[i, :] ← W[i, :] − c · Σ_q Σ_p Δ_q[i]_p Aᵀ_q[p, :] and
/// b[i] ← b[i] − c_b · Σ_q Σ_p Δ_q[i]_p. Panel q of `delta` is `delta[q·n_out..]`, of `at`
/// `at[q·16·n_in..]` (from [`transpose`]), of `t` `t[q·n_in..]`. Lanes of Δ outside the
/// training points must be zero.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn backward_update<S: Simd16, const R: usize>(
    w: &mut [f32],
    b: &mut [f32],
    delta: &[Lane],
    at: &[f32],
    panels: usize,
    s: f32,
    c: f32,
    c_b: f32,
    mut t: Option<&mut [Lane]>,
) {
    let n_out = b.len();
    let n_in = w.len() / n_out.max(1);
    assert!(w.len() == n_out * n_in && delta.len() == panels * n_out);
    assert!(at.len() == panels * LANES * n_in);
    if let Some(t) = t.as_deref_mut() {
        assert_eq!(t.len(), panels * n_in);
        t.fill(Lane::ZERO);
    }
    let mut i = 0;
    while i < n_out {
        let rows = R.min(n_out - i);
        for q in 0..panels {
            let dq = &delta[q * n_out..(q + 1) * n_out];
            if let Some(t) = t.as_deref_mut() {
                let tq = &mut t[q * n_in..(q + 1) * n_in];
                if rows == R {
                    accumulate_transposed::<S, R>(w, n_in, i, dq, tq);
                } else {
                    for r in 0..rows {
                        accumulate_transposed::<S, 1>(w, n_in, i + r, dq, tq);
                    }
                }
            }
        }
        for q in 0..panels {
            let dq = &delta[q * n_out..(q + 1) * n_out];
            let atq = &at[q * LANES * n_in..(q + 1) * LANES * n_in];
            if rows == R {
                rank_update::<S, R>(w, n_in, i, dq, atq, c);
            } else {
                for r in 0..rows {
                    rank_update::<S, 1>(w, n_in, i + r, dq, atq, c);
                }
            }
            for r in 0..rows {
                b[i + r] -= c_b * dq[i + r].sum();
            }
        }
        i += rows;
    }
    if let Some(t) = t {
        for tj in t.iter_mut() {
            *tj = tj.map(|v| v * s);
        }
    }
}

/// t[j] += Σ_{r < R} W[i0 + r, j] Δ[i0 + r] (two partial sums, so the FMA chain per j is
/// half as long).
#[inline(always)]
fn accumulate_transposed<S: Simd16, const R: usize>(
    w: &[f32],
    n_in: usize,
    i0: usize,
    delta: &[Lane],
    t: &mut [Lane],
) {
    assert!(w.len() >= (i0 + R) * n_in && delta.len() >= i0 + R && t.len() == n_in);
    // SAFETY: delta[i0 + r] holds 16 floats.
    let d: [S; R] = std::array::from_fn(|r| unsafe { S::load(delta[i0 + r].0.as_ptr()) });
    let base = w[i0 * n_in..].as_ptr();
    for (j, tj) in t.iter_mut().enumerate() {
        // SAFETY: t[j] holds 16 floats; rows i0..i0+R have n_in = t.len() > j entries.
        unsafe {
            let col = base.add(j);
            let mut even = S::load(tj.0.as_ptr());
            let mut odd = S::splat(0.0);
            let mut r = 0;
            while r + 1 < R {
                even = S::fmadd(S::splat(*col.add(r * n_in)), d[r], even);
                odd = S::fmadd(S::splat(*col.add((r + 1) * n_in)), d[r + 1], odd);
                r += 2;
            }
            if r < R {
                even = S::fmadd(S::splat(*col.add(r * n_in)), d[r], even);
            }
            S::add(even, odd).store(tj.0.as_mut_ptr());
        }
    }
}

/// W[i0 + r, j] ← W[i0 + r, j] − c · Σ_p Δ[i0 + r]_p · Aᵀ[p, j] for r < R: a register tile of
/// R rows × 32 columns is loaded once, updated with all 16 lanes, stored once.
#[inline(always)]
fn rank_update<S: Simd16, const R: usize>(
    w: &mut [f32],
    n: usize,
    i0: usize,
    delta: &[Lane],
    at: &[f32],
    c: f32,
) {
    assert!(w.len() >= (i0 + R) * n && delta.len() >= i0 + R && at.len() == LANES * n);
    let cd: [[f32; LANES]; R] = std::array::from_fn(|r| delta[i0 + r].0.map(|d| -c * d));
    let base = w[i0 * n..].as_mut_ptr();
    const W2: usize = 2 * LANES;
    let full2 = n / W2 * W2;
    let mut j0 = 0;
    // SAFETY (all blocks below): rows i0..i0+R of w and rows 0..LANES of at have n entries;
    // every access is at a column < n.
    while j0 < full2 {
        unsafe {
            let mut acc: [[S; 2]; R] = std::array::from_fn(|r| {
                let p = base.add(r * n + j0);
                [S::load(p), S::load(p.add(LANES))]
            });
            for p in 0..LANES {
                let src = at.as_ptr().add(p * n + j0);
                let (b0, b1) = (S::load(src), S::load(src.add(LANES)));
                for r in 0..R {
                    let a = S::splat(cd[r][p]);
                    acc[r][0] = S::fmadd(a, b0, acc[r][0]);
                    acc[r][1] = S::fmadd(a, b1, acc[r][1]);
                }
            }
            for (r, [v0, v1]) in acc.into_iter().enumerate() {
                let p = base.add(r * n + j0);
                v0.store(p);
                v1.store(p.add(LANES));
            }
        }
        j0 += W2;
    }
    if j0 + LANES <= n {
        unsafe {
            let mut acc: [S; R] = std::array::from_fn(|r| S::load(base.add(r * n + j0)));
            for p in 0..LANES {
                let b0 = S::load(at.as_ptr().add(p * n + j0));
                for r in 0..R {
                    acc[r] = S::fmadd(S::splat(cd[r][p]), b0, acc[r]);
                }
            }
            for (r, v) in acc.into_iter().enumerate() {
                v.store(base.add(r * n + j0));
            }
        }
        j0 += LANES;
    }
    for r in 0..R {
        let row = &mut w[(i0 + r) * n..(i0 + r + 1) * n];
        for (j, x) in row.iter_mut().enumerate().skip(j0) {
            let mut v = *x;
            for p in 0..LANES {
                v += cd[r][p] * at[p * n + j];
            }
            *x = v;
        }
    }
}
