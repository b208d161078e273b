//! The three matrix products of a training step, on lane-stored activations ([`Lane`]).
//!
//! With W row-major (n_out × n_in), A = n_in lanes, Δ = n_out lanes:
//! - [`forward`]: Z = s · W A + σb · b (one 16-wide FMA per weight, `R` rows at a time so each
//!   loaded activation lane feeds `R` accumulators);
//! - [`sweep`]: Tᵀ += Δᵀ W with the old W and/or the rank update W ← W + S Aᵀ (S = −c Δ of one
//!   step, or the stacked updates of several deferred steps), in one pass: a tile of R rows ×
//!   32 columns of W is loaded into registers once, accumulated into Tᵀ, updated with the
//!   transposed activations Aᵀ (see [`transpose`]) and stored;
//! - [`transposed_product`]: Tᵀ = Δᵀ W alone (W only read), a block of 16 points × 16 columns
//!   of Tᵀ in registers over all rows;
//! - the thin products of deferred updates and incremental forwards ([`cross`], [`apply`],
//!   [`add_rows`], [`forward_columns`]): a rank-16 factor against a lane matrix.
//!
//! Everything is `#[inline(always)]` and generic over the vector type [`Simd16`], so the step
//! compiled with AVX-512 or AVX2 enabled (see `super::step`) runs on those registers.

use super::lanes::{Lane, LANES};
use super::simd::{array, Simd16};

/// Z[i] = s · Σ_j W[i, j] A[j] + bias_scale · b[i], for every lane, with W row-major with row
/// length `stride` ≥ a.len() (the padding columns are skipped).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn forward<S: Simd16, const R: usize>(
    w: &[f32],
    stride: usize,
    b: &[f32],
    s: f32,
    bias_scale: f32,
    a: &[Lane],
    z: &mut [Lane],
) {
    let n_in = stride;
    let a = &a[..a.len().min(stride)];
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

/// The transposed product of a [`sweep`]: Tᵀ_q[p, :] += Σ_i Δ_q[i]_p W[i, :] with the old W,
/// for `panels` panels (Δ_q = `delta[q·n_out..]`, Tᵀ_q = `tt[q·16·n..]`, 16 rows of n).
pub struct Transposed<'a> {
    pub delta: &'a [Lane],
    pub tt: &'a mut [f32],
    pub panels: usize,
}

impl Transposed<'_> {
    #[inline(always)]
    fn reborrow(&mut self) -> Transposed<'_> {
        Transposed {
            delta: self.delta,
            tt: &mut *self.tt,
            panels: self.panels,
        }
    }
}

/// The rank update of a [`sweep`]: W[i, :] += Σ_q Σ_p S_q[i]_p Aᵀ_q[p, :] for `panels` panels
/// (S_q = `scaled[q·n_out..]`, Aᵀ_q = `at[q·16·n..]` from [`transpose`]).
#[derive(Clone, Copy)]
pub struct RankUpdate<'a> {
    pub scaled: &'a [Lane],
    pub at: &'a [f32],
    pub panels: usize,
}

/// One pass over the rows of W (n_out × n, n a multiple of 16), `R` rows at a time, doing
/// either or both of the operations of [`Transposed`] and [`RankUpdate`] on each tile while it
/// is in registers.
#[inline(always)]
pub fn sweep<S: Simd16, const R: usize>(
    w: &mut [f32],
    n_out: usize,
    mut t: Option<Transposed<'_>>,
    u: Option<RankUpdate<'_>>,
) {
    let n = w.len() / n_out.max(1);
    assert!(w.len() == n_out * n && n.is_multiple_of(LANES));
    if let Some(t) = &t {
        assert!(t.delta.len() == t.panels * n_out && t.tt.len() == t.panels * LANES * n);
    }
    if let Some(u) = u {
        assert!(u.scaled.len() == u.panels * n_out && u.at.len() == u.panels * LANES * n);
    }
    let mut i = 0;
    while i < n_out {
        let rows = R.min(n_out - i);
        if rows == R {
            tile::<S, R>(w, n, n_out, i, t.as_mut().map(Transposed::reborrow), u);
        } else {
            for r in 0..rows {
                tile::<S, 1>(w, n, n_out, i + r, t.as_mut().map(Transposed::reborrow), u);
            }
        }
        i += rows;
    }
}

/// Rows i0..i0+R of W, 32 (then 16) columns at a time held in registers: first the
/// [`Transposed`] accumulation with the old tile, then the [`RankUpdate`], then the tile is
/// stored (only if it was updated).
#[inline(always)]
fn tile<S: Simd16, const R: usize>(
    w: &mut [f32],
    n: usize,
    n_out: usize,
    i0: usize,
    mut t: Option<Transposed<'_>>,
    u: Option<RankUpdate<'_>>,
) {
    assert!(w.len() >= (i0 + R) * n && i0 + R <= n_out);
    let base = w[i0 * n..].as_mut_ptr();
    // SAFETY (whole function): rows i0..i0+R of w have n entries; the panels of at/tt have
    // LANES rows of n entries and delta/scaled hold panels · n_out lanes (asserted by `sweep`);
    // every column touched is < n.
    unsafe {
        let mut j0 = 0;
        while j0 + 2 * LANES <= n {
            let mut tile: [[S; 2]; R] = array(|r| {
                let p = base.add(r * n + j0);
                [S::load(p), S::load(p.add(LANES))]
            });
            if let Some(Transposed { delta, tt, panels }) = t.as_mut().map(Transposed::reborrow) {
                for q in 0..panels {
                    let d = delta.as_ptr().add(q * n_out + i0);
                    for p in 0..LANES {
                        let dst = tt.as_mut_ptr().add((q * LANES + p) * n + j0);
                        // two chains per column block (even and odd rows) halve the FMA
                        // latency each accumulation waits on
                        let (mut t0, mut t1) = (S::load(dst), S::load(dst.add(LANES)));
                        let (mut u0, mut u1) = (S::splat(0.0), S::splat(0.0));
                        for (r, row) in tile.iter().enumerate() {
                            let dv = S::splat((*d.add(r)).0[p]);
                            if r % 2 == 0 {
                                t0 = S::fmadd(dv, row[0], t0);
                                t1 = S::fmadd(dv, row[1], t1);
                            } else {
                                u0 = S::fmadd(dv, row[0], u0);
                                u1 = S::fmadd(dv, row[1], u1);
                            }
                        }
                        S::add(t0, u0).store(dst);
                        S::add(t1, u1).store(dst.add(LANES));
                    }
                }
            }
            if let Some(RankUpdate { scaled, at, panels }) = u {
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
            }
            j0 += 2 * LANES;
        }
        if j0 < n {
            // one chunk of 16 columns (n is a multiple of 16)
            let mut tile: [S; R] = array(|r| S::load(base.add(r * n + j0)));
            if let Some(Transposed { delta, tt, panels }) = t.as_mut().map(Transposed::reborrow) {
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
            if let Some(RankUpdate { scaled, at, panels }) = u {
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
}

/// t_q[j]_p = s · Tᵀ_q[p, j] for j < t.len() / panels: the lanes of a [`Transposed`] result.
#[inline(always)]
pub fn untranspose(tt: &[f32], s: f32, panels: usize, t: &mut [Lane]) {
    let n = t.len() / panels.max(1);
    assert!(t.len() == panels * n && tt.len() == panels * LANES * n);
    for q in 0..panels {
        for (j, tj) in t[q * n..(q + 1) * n].iter_mut().enumerate() {
            for p in 0..LANES {
                tj.0[p] = s * tt[q * LANES * n + p * n + j];
            }
        }
    }
}

/// out[r · P + q] = Σ_{k < n} x(r, k) · y[q · n + k] (lane-wise) for r < `rows`, with
/// P = y.len() / n panels of y: the coefficients of a rank-16 factor (rows r = (slot, panel,
/// lane) of a thin matrix given element-wise by `x`) against a lane matrix.
#[inline(always)]
pub fn cross<S: Simd16, const R: usize>(
    rows: usize,
    n: usize,
    x: impl Fn(usize, usize) -> f32,
    y: &[Lane],
    out: &mut Vec<Lane>,
) {
    let panels = y.len().checked_div(n).unwrap_or(0);
    assert_eq!(y.len(), panels * n);
    out.clear();
    out.resize(rows * panels, Lane::ZERO);
    for q in 0..panels {
        let yq = &y[q * n..(q + 1) * n];
        let mut r0 = 0;
        while r0 < rows {
            let block = R.min(rows - r0);
            let mut acc = [S::splat(0.0); R];
            for (k, yk) in yq.iter().enumerate() {
                // SAFETY: a lane holds 16 floats.
                let yv = unsafe { S::load(yk.0.as_ptr()) };
                for (r, acc_r) in acc.iter_mut().enumerate().take(block) {
                    *acc_r = S::fmadd(S::splat(x(r0 + r, k)), yv, *acc_r);
                }
            }
            for (r, acc_r) in acc.into_iter().enumerate().take(block) {
                // SAFETY: a lane holds 16 floats.
                unsafe { acc_r.store(out[(r0 + r) * panels + q].0.as_mut_ptr()) };
            }
            r0 += block;
        }
    }
}

/// u[q · n + i] += Σ_{r < rows} c(r, i) · g[r · P + q] (lane-wise) for i < n, q < P: a thin
/// factor (element-wise `c`, rows r as in [`cross`]) times the coefficients `g` from [`cross`].
#[inline(always)]
pub fn apply<S: Simd16, const R: usize>(
    rows: usize,
    c: impl Fn(usize, usize) -> f32,
    g: &[Lane],
    u: &mut [Lane],
    n: usize,
) {
    let panels = g.len().checked_div(rows).unwrap_or(0);
    assert!(g.len() == rows * panels && u.len() >= panels * n);
    for q in 0..panels {
        let mut i0 = 0;
        while i0 < n {
            let block = R.min(n - i0);
            // SAFETY (loads and stores): lanes hold 16 floats; i0 + r < n.
            let mut acc: [S; R] =
                array(|r| unsafe { S::load(u[q * n + i0 + r.min(block - 1)].0.as_ptr()) });
            for r in 0..rows {
                let gv = unsafe { S::load(g[r * panels + q].0.as_ptr()) };
                for (b, acc_b) in acc.iter_mut().enumerate().take(block) {
                    *acc_b = S::fmadd(S::splat(c(r, i0 + b)), gv, *acc_b);
                }
            }
            for (b, acc_b) in acc.into_iter().enumerate().take(block) {
                unsafe { acc_b.store(u[q * n + i0 + b].0.as_mut_ptr()) };
            }
            i0 += block;
        }
    }
}

/// Tᵀ_q[p, :] += Σ_{r < rows} m[r · P + q]_p · at[r · n + :] for every panel q < P and lane p:
/// the transposed product of a thin factor's `at` rows (length n, a multiple of 16) with
/// coefficients `m` from [`cross`].
#[inline(always)]
pub fn add_rows<S: Simd16>(tt: &mut [f32], m: &[Lane], at: &[f32], rows: usize, n: usize) {
    let panels = m.len().checked_div(rows).unwrap_or(0);
    assert!(m.len() == rows * panels && at.len() >= rows * n && n.is_multiple_of(LANES));
    assert!(tt.len() >= panels * LANES * n);
    for q in 0..panels {
        for p in 0..LANES {
            let dst = &mut tt[(q * LANES + p) * n..(q * LANES + p + 1) * n];
            let mut j0 = 0;
            while j0 < n {
                let width = (4 * LANES).min(n - j0) / LANES;
                // SAFETY (loads and stores): columns j0 .. j0 + 16·width ≤ n of rows of n.
                let mut acc: [S; 4] =
                    array(|c| unsafe { S::load(dst.as_ptr().add(j0 + LANES * c.min(width - 1))) });
                for r in 0..rows {
                    let coef = S::splat(m[r * panels + q].0[p]);
                    let src = at[r * n + j0..].as_ptr();
                    for (c, acc_c) in acc.iter_mut().enumerate().take(width) {
                        *acc_c = S::fmadd(coef, unsafe { S::load(src.add(LANES * c)) }, *acc_c);
                    }
                }
                for (c, acc_c) in acc.into_iter().enumerate().take(width) {
                    unsafe { acc_c.store(dst.as_mut_ptr().add(j0 + LANES * c)) };
                }
                j0 += width * LANES;
            }
        }
    }
}

/// u[q · n_out + i] += Σ_k W[i, cols[k]] · da[q · K + k] (lane-wise, K = cols.len()): the
/// product of W restricted to the columns `cols` (W row-major with row length `stride`).
#[inline(always)]
pub fn forward_columns<S: Simd16, const R: usize>(
    w: &[f32],
    stride: usize,
    cols: &[usize],
    da: &[Lane],
    u: &mut [Lane],
    n_out: usize,
) {
    let k_len = cols.len();
    let panels = da.len().checked_div(k_len).unwrap_or(0);
    assert!(da.len() == panels * k_len && u.len() >= panels * n_out);
    assert!(w.len() >= n_out * stride && cols.iter().all(|&j| j < stride));
    for q in 0..panels {
        let daq = &da[q * k_len..(q + 1) * k_len];
        let mut i0 = 0;
        while i0 < n_out {
            let block = R.min(n_out - i0);
            // SAFETY (loads and stores): lanes hold 16 floats; i0 + r < n_out.
            let mut acc: [S; R] =
                array(|r| unsafe { S::load(u[q * n_out + i0 + r.min(block - 1)].0.as_ptr()) });
            for (&j, dj) in cols.iter().zip(daq) {
                let dv = unsafe { S::load(dj.0.as_ptr()) };
                for (r, acc_r) in acc.iter_mut().enumerate().take(block) {
                    *acc_r = S::fmadd(S::splat(w[(i0 + r) * stride + j]), dv, *acc_r);
                }
            }
            for (r, acc_r) in acc.into_iter().enumerate().take(block) {
                unsafe { acc_r.store(u[q * n_out + i0 + r].0.as_mut_ptr()) };
            }
            i0 += block;
        }
    }
}

/// Tᵀ_q[p, :] = Σ_i Δ_q[i]_p W[i, :] for every panel q (W: n_out rows of n, a multiple of 16;
/// Tᵀ_q = `tt[q·16·n..]`, 16 rows of n): the read-only transposed product, with a block of
/// 16 points × 16 columns of Tᵀ held in registers over all rows of W (W is read once, one cache
/// line per row and block, each feeding 16 FMAs).
#[inline(always)]
pub fn transposed_product<S: Simd16>(w: &[f32], n_out: usize, delta: &[Lane], tt: &mut [f32]) {
    let n = w.len() / n_out.max(1);
    let panels = delta.len() / n_out.max(1);
    assert!(w.len() == n_out * n && n.is_multiple_of(LANES) && delta.len() == panels * n_out);
    assert!(tt.len() >= panels * LANES * n);
    for q in 0..panels {
        let dq = &delta[q * n_out..(q + 1) * n_out];
        for j0 in (0..n).step_by(LANES) {
            let mut acc = [S::splat(0.0); LANES];
            for (i, di) in dq.iter().enumerate() {
                // SAFETY: row i has n ≥ j0 + 16 entries.
                let wv = unsafe { S::load(w.as_ptr().add(i * n + j0)) };
                for (p, acc_p) in acc.iter_mut().enumerate() {
                    *acc_p = S::fmadd(S::splat(di.0[p]), wv, *acc_p);
                }
            }
            for (p, a) in acc.into_iter().enumerate() {
                // SAFETY: row (q, p) of Tᵀ has n ≥ j0 + 16 entries.
                unsafe { a.store(tt[(q * LANES + p) * n + j0..].as_mut_ptr()) };
            }
        }
    }
}
