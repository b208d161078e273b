//! The three matrix products of a training step, on lane-stored activations ([`Lane`]).
//!
//! With W row-major (n_out × n_in), A = n_in lanes, Δ = n_out lanes:
//! - [`forward`]: Z = s · W A + σb · b (one 16-wide FMA per weight, `R` rows at a time so each
//!   loaded activation lane feeds `R` accumulators);
//! - [`backward_update`]: T = s · Wᵀ Δ with the old W, then W ← W − c · Δ Aᵀ and
//!   b ← b − c_b · Σ_p Δ_p, in one sweep: a tile of R rows × 32 columns of W is loaded into
//!   registers once, accumulated into Tᵀ, updated with the transposed activations Aᵀ (see
//!   [`transpose`]) and stored.
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
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    *acc_r = S::fmadd(S::splat(*col.add(r * n_in)), av, *acc_r);
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
/// training points must be zero; n_in must be a multiple of 16. `tt` (panels · 16 · n_in) and
/// `scaled` are scratch space.
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
    t: Option<(&mut [Lane], &mut [f32])>,
    scaled: &mut Vec<Lane>,
) {
    let n_out = b.len();
    let n_in = w.len() / n_out.max(1);
    assert!(w.len() == n_out * n_in && delta.len() == panels * n_out && n_in.is_multiple_of(LANES));
    assert!(at.len() == panels * LANES * n_in);
    scaled.clear();
    scaled.extend(delta.iter().map(|d| d.map(|v| -c * v)));
    for q in 0..panels {
        for i in 0..n_out {
            b[i] -= c_b * delta[q * n_out + i].sum();
        }
    }
    let mut tt = t.map(|(t, tt)| {
        assert!(t.len() == panels * n_in && tt.len() == panels * LANES * n_in);
        tt.fill(0.0);
        (t, tt)
    });
    let mut i = 0;
    while i < n_out {
        let rows = R.min(n_out - i);
        let tt_slice = tt.as_mut().map(|(_, tt)| &mut tt[..]);
        if rows == R {
            tile_backward_update::<S, R>(w, n_in, n_out, i, panels, delta, scaled, at, tt_slice);
        } else {
            let mut tt_slice = tt_slice;
            for r in 0..rows {
                let tr = tt_slice.as_deref_mut();
                tile_backward_update::<S, 1>(w, n_in, n_out, i + r, panels, delta, scaled, at, tr);
            }
        }
        i += rows;
    }
    if let Some((t, tt)) = tt {
        for q in 0..panels {
            for (j, tj) in t[q * n_in..(q + 1) * n_in].iter_mut().enumerate() {
                for p in 0..LANES {
                    tj.0[p] = s * tt[q * LANES * n_in + p * n_in + j];
                }
            }
        }
    }
}

/// Rows i0..i0+R of W, 32 (then 16) columns at a time held in registers: first
/// Tᵀ_q[p, j] += Σ_r Δ_q[i0+r]_p W[i0+r, j] with the old tile (if `tt` is given), then
/// W[i0+r, j] += Σ_q Σ_p scaled_q[i0+r]_p Aᵀ_q[p, j], then the tile is stored.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile_backward_update<S: Simd16, const R: usize>(
    w: &mut [f32],
    n: usize,
    n_out: usize,
    i0: usize,
    panels: usize,
    delta: &[Lane],
    scaled: &[Lane],
    at: &[f32],
    mut tt: Option<&mut [f32]>,
) {
    assert!(w.len() >= (i0 + R) * n && n.is_multiple_of(LANES));
    assert!(delta.len() == panels * n_out && scaled.len() == panels * n_out && i0 + R <= n_out);
    assert!(at.len() == panels * LANES * n);
    if let Some(tt) = tt.as_deref() {
        assert_eq!(tt.len(), panels * LANES * n);
    }
    let base = w[i0 * n..].as_mut_ptr();
    let mut j0 = 0;
    // SAFETY (whole loop): rows i0..i0+R of w have n entries, the panels of at/tt have LANES
    // rows of n entries, delta/scaled hold panels · n_out lanes, and every column is < n.
    unsafe {
        while j0 + 2 * LANES <= n {
            let mut tile: [[S; 2]; R] = std::array::from_fn(|r| {
                let p = base.add(r * n + j0);
                [S::load(p), S::load(p.add(LANES))]
            });
            if let Some(tt) = tt.as_deref_mut() {
                for q in 0..panels {
                    let d = delta.as_ptr().add(q * n_out + i0);
                    for p in 0..LANES {
                        let dst = tt.as_mut_ptr().add((q * LANES + p) * n + j0);
                        let (mut t0, mut t1) = (S::load(dst), S::load(dst.add(LANES)));
                        for (r, row) in tile.iter().enumerate() {
                            let dv = S::splat((*d.add(r)).0[p]);
                            t0 = S::fmadd(dv, row[0], t0);
                            t1 = S::fmadd(dv, row[1], t1);
                        }
                        t0.store(dst);
                        t1.store(dst.add(LANES));
                    }
                }
            }
            for q in 0..panels {
                let sc = scaled.as_ptr().add(q * n_out + i0);
                for p in 0..LANES {
                    let src = at.as_ptr().add((q * LANES + p) * n + j0);
                    let (b0, b1) = (S::load(src), S::load(src.add(LANES)));
                    for (r, row) in tile.iter_mut().enumerate() {
                        let cv = S::splat((*sc.add(r)).0[p]);
                        row[0] = S::fmadd(cv, b0, row[0]);
                        row[1] = S::fmadd(cv, b1, row[1]);
                    }
                }
            }
            for (r, [v0, v1]) in tile.into_iter().enumerate() {
                let p = base.add(r * n + j0);
                v0.store(p);
                v1.store(p.add(LANES));
            }
            j0 += 2 * LANES;
        }
        if j0 < n {
            // one chunk of 16 columns (n is a multiple of 16)
            let mut tile: [S; R] = std::array::from_fn(|r| S::load(base.add(r * n + j0)));
            if let Some(tt) = tt {
                for q in 0..panels {
                    let d = delta.as_ptr().add(q * n_out + i0);
                    for p in 0..LANES {
                        let dst = tt.as_mut_ptr().add((q * LANES + p) * n + j0);
                        let mut t0 = S::load(dst);
                        for (r, row) in tile.iter().enumerate() {
                            t0 = S::fmadd(S::splat((*d.add(r)).0[p]), *row, t0);
                        }
                        t0.store(dst);
                    }
                }
            }
            for q in 0..panels {
                let sc = scaled.as_ptr().add(q * n_out + i0);
                for p in 0..LANES {
                    let b0 = S::load(at.as_ptr().add((q * LANES + p) * n + j0));
                    for (r, row) in tile.iter_mut().enumerate() {
                        *row = S::fmadd(S::splat((*sc.add(r)).0[p]), b0, *row);
                    }
                }
            }
            for (r, v) in tile.into_iter().enumerate() {
                v.store(base.add(r * n + j0));
            }
        }
    }
}
