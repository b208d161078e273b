//! Kernel matrices K(X1, X2) (rows of X1: first argument, g1; columns: second argument, g2).

use sgntk_model::nalgebra::DMatrix;

use super::compose::Kernels;
use super::lanes::all_finite;
use super::layers::{Network, PairState, Side};
use super::spec::KernelKind;
#[cfg(doc)]
use super::spec::KernelSpec;
use super::KernelError;

fn check_inputs(x1: &DMatrix<f64>, x2: &DMatrix<f64>) -> Result<(), KernelError> {
    if x1.ncols() != x2.ncols() {
        return Err(KernelError::DimensionMismatch(x1.ncols(), x2.ncols()));
    }
    if x1.ncols() == 0 {
        return Err(KernelError::EmptyInput);
    }
    check_finite("x1", x1)?;
    check_finite("x2", x2)
}

/// The first entry (row, column, value) of `m`, column by column, for which `bad` holds.
pub(super) fn find_entry(
    m: &DMatrix<f64>,
    bad: impl Fn(f64) -> bool,
) -> Option<(usize, usize, f64)> {
    let rows = m.nrows();
    m.iter()
        .position(|v| bad(*v))
        .map(|k| (k % rows, k / rows, m[k]))
}

/// Fails with [`KernelError::NonFinite`] at the first entry of `m` (named `what`) for which
/// `bad` holds.
fn reject_entries(
    what: &'static str,
    m: &DMatrix<f64>,
    bad: impl Fn(f64) -> bool,
) -> Result<(), KernelError> {
    match find_entry(m, bad) {
        Some((row, col, value)) => Err(KernelError::NonFinite {
            what,
            row,
            col,
            value,
        }),
        None => Ok(()),
    }
}

/// Fails unless every entry of `m` (named `what`) is finite.
pub(super) fn check_finite(what: &'static str, m: &DMatrix<f64>) -> Result<(), KernelError> {
    reject_entries(what, m, |v| !v.is_finite())
}

/// The one finiteness check of kernel values (docs/MATH.md §5): fails at a ±∞ entry (row, col)
/// of the kernel matrix `m` (named `what`) unless `singular(row, col)` says it is one of the
/// theory's singular values — the sign NTK's (and step's) +∞ on the diagonal, and its −∞ at
/// antipodal inputs (x, −x) when σb = 0 (neural-tangents gives the same) — and at every NaN.
/// Both are an f64 overflow ([`KernelError::Overflow`]): from finite inputs a NaN only arises
/// from infinite intermediate values (∞/∞, ∞ − ∞).
pub(super) fn check_kernel_values(
    what: &'static str,
    m: &DMatrix<f64>,
    singular: impl Fn(usize, usize) -> bool + Sync,
) -> Result<(), KernelError> {
    use rayon::prelude::*;
    let rows = m.nrows();
    // in parallel, the first offending entry column by column (infinite entries are few: the
    // singular ones are on the diagonal or at antipodal points, so runs of SUB values are
    // checked in SIMD lanes and only a run with a non-finite value is searched)
    const CHUNK: usize = 1 << 16;
    const SUB: usize = 64;
    let bad = |k: usize, value: f64| {
        value.is_nan() || (value.is_infinite() && !singular(k % rows, k / rows))
    };
    let first = m
        .as_slice()
        .par_chunks(CHUNK)
        .enumerate()
        .filter_map(|(c, chunk)| {
            chunk.chunks(SUB).enumerate().find_map(|(r, run)| {
                if all_finite(run) {
                    return None;
                }
                let start = c * CHUNK + r * SUB;
                (start..)
                    .zip(run)
                    .position(|(k, &v)| bad(k, v))
                    .map(|p| start + p)
            })
        })
        .min();
    match first {
        Some(k) => Err(KernelError::Overflow {
            what,
            row: k % rows,
            col: k / rows,
            value: m[k],
        }),
        None => Ok(()),
    }
}

/// Observer of long kernel computations, set per thread with [`set_progress`] (e.g. by a command
/// line that draws a progress bar); without one the library reports nothing.
pub trait KernelProgress: Send + Sync {
    /// A kernel matrix of `entries` entries starts; `estimate_s` is its estimated wall time (the
    /// median of three timed entries, times the entries, over the threads).
    fn start(&self, entries: u64, estimate_s: f64);
    /// `entries` more entries are done.
    fn advance(&self, entries: u64);
    /// The matrix is done (or failed).
    fn finish(&self);
}

thread_local! {
    static PROGRESS: std::cell::RefCell<Option<std::sync::Arc<dyn KernelProgress>>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets (or, with `None`, removes) the observer of every later kernel matrix computed from this
/// thread (its rows may run on other threads; they report to this observer).
pub fn set_progress(progress: Option<std::sync::Arc<dyn KernelProgress>>) {
    PROGRESS.with(|p| *p.borrow_mut() = progress);
}

fn progress() -> Option<std::sync::Arc<dyn KernelProgress>> {
    PROGRESS.with(|p| p.borrow().clone())
}

/// The rows of `x` one after the other.
fn row_major(x: &DMatrix<f64>) -> Vec<f64> {
    x.transpose().as_slice().to_vec()
}

/// Row i of `points` (rows of d values one after the other).
fn row(points: &[f64], d: usize, i: usize) -> &[f64] {
    &points[i * d..(i + 1) * d]
}

/// One side's points for the variance checks: their variance columns, the points row after row,
/// their number, and the names of their variances for an overflow and an underflow.
type TraceSide<'a> = (&'a [Vec<f64>], &'a [f64], usize, [&'static str; 2]);

/// Point i's variances before each map, from the variance columns of n points
/// ([`Network::variance_columns`]).
fn trace_of(columns: &[Vec<f64>], n: usize, i: usize) -> Vec<&[f64]> {
    columns
        .iter()
        .map(|c| {
            let p = c.len() / n;
            &c[i * p..(i + 1) * p]
        })
        .collect()
}

/// The most points of one block of [`Network::variance_columns`] (a convolutional network's
/// hold at most [`BLOCK_VALUES`] position-pair values).
const TRACE_POINTS: usize = 256;

/// The most pairs in one block of the fold (an MLP's blocks; a convolutional network's hold
/// at most [`BLOCK_VALUES`] position-pair values).
const BLOCK_PAIRS: usize = 1024;
/// The most position-pair values of one block's state.
const BLOCK_VALUES: u64 = 1 << 16;

/// Which entries of a kernel matrix the fold computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Triangle {
    /// Every entry (i, j): the pairs (x1_i, x2_j).
    Full,
    /// A symmetric kernel of one set of points against itself: the pairs (x_j, x_i), i ≥ j,
    /// copied to both (i, j) and (j, i).
    Mirror,
    /// An asymmetric kernel of one set of points against itself whose fold [`Network::swaps`]:
    /// the pairs (x_j, x_i), i ≥ j, give (j, i) and, in the other order, (i, j).
    Both,
}

/// The values of a block of entries of column j handed to [`fill`] as `(m, start, lower,
/// upper)`: for matrix `m`, `lower[k]` is entry (start + k, j) and, in a triangle, `upper[k]`
/// entry (j, start + k) (ignored on the diagonal).
type Sink<'s> = dyn FnMut(usize, usize, &[f64], &[f64]) + 's;

/// Runs `block(j, rows, sink)` for every column j of the `outputs` kernel matrices and every
/// block of at most `width` of its rows, the columns in parallel (rayon); the block hands its
/// values to `sink` ([`Sink`]), once per output. Returns the matrices column after column,
/// `[n2][outputs][n1]` (for one output: the column-major matrix), or `None` when a block did
/// not hand its values (after a failure it reports itself). With [`Triangle::Mirror`] or
/// [`Triangle::Both`] (n1 = n2) only the rows i ≥ j are visited, and column j's task writes
/// both (i, j) and (j, i) (the mirrored value, or the other order's). With a
/// [`KernelProgress`] observer, three entries are timed first (as blocks of one) for its
/// estimate, and the finished matrix entries are reported block by block (a block of a
/// triangle counts twice off the diagonal; one by one where an entry takes more than a
/// millisecond).
///
/// The output is not initialized before the blocks write it (that would be a serial pass over
/// the whole matrix): every entry is written exactly once, which the count of written values
/// confirms before the vector takes them.
fn fill<F>(
    n1: usize,
    n2: usize,
    outputs: usize,
    mut width: usize,
    triangle: Triangle,
    block: F,
) -> Option<Vec<f64>>
where
    F: Fn(usize, std::ops::Range<usize>, &mut Sink<'_>) + Sync,
{
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let triangle = if n1 == n2 { triangle } else { Triangle::Full };
    let half = triangle != Triangle::Full;
    let stride = outputs * n1;
    let len = stride * n2;
    let mut out: Vec<f64> = Vec::with_capacity(len);
    if len == 0 {
        return Some(out);
    }
    let observer = progress();
    // the rows of column j that are visited
    let first = |j: usize| if half { j } else { 0 };
    if let Some(p) = &observer {
        // the median time of three entries spread over the matrix (a diagonal entry x = x' can
        // be much cheaper than the others)
        let mut times: Vec<f64> = [(n1 - 1, n2 / 2), (n1 / 2, n2 - 1), (n1 - 1, 0)]
            .iter()
            .map(|&(i, j)| {
                let start = std::time::Instant::now();
                block(j, i..i + 1, &mut |_, _, _, _| {});
                start.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let entries = (n1 as u64).saturating_mul(n2 as u64);
        let computed = (0..n2).map(|j| (n1 - first(j)) as u64).sum::<u64>();
        let threads = rayon::current_num_threads().clamp(1, n2) as f64;
        p.start(entries, times[1] * computed as f64 / threads);
        if times[1] > 1e-3 {
            width = 1;
        }
    }
    let width = width.max(1);
    let visit = |j: usize, sink: &mut Sink<'_>| {
        for start in (first(j)..n1).step_by(width) {
            let rows = start..(start + width).min(n1);
            block(j, rows.clone(), sink);
            if let Some(p) = &observer {
                let count = rows.len() as u64;
                let diagonal = u64::from(half && rows.contains(&j));
                p.advance(if half { 2 * count - diagonal } else { count });
            }
        }
    };
    let base = SharedOut(out.as_mut_ptr());
    let written = AtomicUsize::new(0);
    // column j's values (i, j), i from `start`, of output m
    let write_lower = |j: usize, m: usize, start: usize, lower: &[f64]| {
        let end = start + lower.len();
        assert!(start >= first(j) && end <= n1 && m < outputs);
        // SAFETY: in the allocation (checked above); only column j's task writes these
        // entries (see the band's writes below for the other triangle).
        unsafe {
            std::ptr::copy_nonoverlapping(
                lower.as_ptr(),
                base.at(j * stride + m * n1 + start),
                lower.len(),
            );
        }
    };
    if half {
        // bands of BAND columns: the upper-triangle values (j, i) of a band's columns are kept
        // and written BAND at a time, contiguous in column i (one cache line, not BAND); a
        // mirrored triangle's are its lower values, read back from the band's own columns
        let mirror = triangle == Triangle::Mirror;
        (0..n2.div_ceil(BAND)).into_par_iter().for_each(|band| {
            let cols = band * BAND..((band + 1) * BAND).min(n2);
            let mut kept = vec![0.0; if mirror { 0 } else { cols.len() * stride }];
            let mut count = 0;
            for j in cols.clone() {
                visit(j, &mut |m, start, lower, upper| {
                    assert!(upper.len() == lower.len());
                    write_lower(j, m, start, lower);
                    count += lower.len();
                    if !mirror {
                        let at = (j - cols.start) * stride + m * n1 + start;
                        kept[at..at + upper.len()].copy_from_slice(upper);
                    }
                });
            }
            for m in 0..outputs {
                for i in cols.start + 1..n1 {
                    // entries (i, j), j in the band and j < i: contiguous in column i
                    let js = cols.start..cols.end.min(i);
                    let at = i * stride + m * n1;
                    assert!(at + js.end <= len);
                    for j in js.clone() {
                        // SAFETY: in the allocation (checked). The band's task writes only
                        // (i, j) with i ≥ j and (j, i) with i > j for its columns j: an element
                        // (a, b) is written by the band of b when a ≥ b and by the band of a
                        // when a < b, by no other; a task reads only (i, j), i > j, of its
                        // own columns, which it wrote above.
                        let value = if mirror {
                            unsafe { *base.at(j * stride + m * n1 + i) }
                        } else {
                            kept[(j - cols.start) * stride + m * n1 + i]
                        };
                        unsafe { *base.at(at + j) = value };
                    }
                    count += js.len();
                }
            }
            written.fetch_add(count, Ordering::Relaxed);
        });
    } else {
        (0..n2).into_par_iter().for_each(|j| {
            let mut count = 0;
            visit(j, &mut |m, start, lower, _| {
                write_lower(j, m, start, lower);
                count += lower.len();
            });
            written.fetch_add(count, Ordering::Relaxed);
        });
    }
    if let Some(p) = &observer {
        p.finish();
    }
    if written.into_inner() != len {
        return None;
    }
    // SAFETY: every one of the `len` entries was written (each exactly once: the tasks write
    // disjoint entries and the count of written values is `len`).
    unsafe { out.set_len(len) };
    Some(out)
}

/// Columns of one task of a triangle in [`fill`] (8 f64 fill a cache line).
const BAND: usize = 8;

/// The output buffer of [`fill`], shared by the tasks of a triangle.
struct SharedOut(*mut f64);
// SAFETY: the tasks of `fill` write disjoint elements (see there).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The address of element `k` (in the allocation: the caller's check).
    fn at(&self, k: usize) -> *mut f64 {
        self.0.wrapping_add(k)
    }
}

/// The kernel value of pair `b` of an output state: Σ for the NNGP, I otherwise (a spatial
/// state — a layer before the readout in [`kernel_layers`] — through its flatten readout).
fn value(kind: KernelKind, s: &PairState, b: usize) -> f64 {
    let (k12, ntk) = s.flattened(b);
    match kind {
        KernelKind::Nngp => k12,
        _ => ntk,
    }
}

/// The fold of `net` over every pair of rows: the output kernel, or (`all_layers`) the kernel
/// after every map that ends a layer.
fn fold_matrices(
    net: &Network,
    kind: KernelKind,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    all_layers: bool,
) -> Result<Vec<DMatrix<f64>>, KernelError> {
    fold_matrices_mirrored(net, kind, x1, x2, all_layers, true)
}

/// [`fold_matrices`]; with `mirror`, a kernel of one set of points against itself (`x2` equal
/// to `x1` bit for bit) visits the pairs of one triangle: whose maps are all symmetric
/// ([`Network::symmetric`]; not the SG-NTK's) it mirrors the values ([`Triangle::Mirror`]), an
/// asymmetric fold that [`Network::swaps`] computes both orders from one Σ
/// ([`Triangle::Both`]).
fn fold_matrices_mirrored(
    net: &Network,
    kind: KernelKind,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    all_layers: bool,
    mirror: bool,
) -> Result<Vec<DMatrix<f64>>, KernelError> {
    check_inputs(x1, x2)?;
    let same_points = x1.shape() == x2.shape()
        && x1
            .iter()
            .zip(x2.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
    let triangle = match (mirror && same_points, net.symmetric(), net.swaps()) {
        (false, _, _) => Triangle::Full,
        (true, true, _) => Triangle::Mirror,
        (true, false, true) => Triangle::Both,
        (true, false, false) => Triangle::Full,
    };
    if x1.ncols() != net.input().len() {
        return Err(KernelError::Shape(format!(
            "inputs have {} columns, the network's input shape {} has {} values",
            x1.ncols(),
            net.input(),
            net.input().len()
        )));
    }
    // Before allocating: the per-point variance traces, the block states of every thread (two
    // position-pair vectors in and out, the branch of a residual block and the variances beside
    // them) and the output matrices (built twice over: per block, and assembled as matrices).
    let (n1, n2) = (x1.nrows() as u64, x2.nrows() as u64);
    // the machine's memory read once for the three checks
    let limit = sgntk_model::limits::available_memory();
    let check = |what: &str, factors: &[(&str, u64)]| {
        sgntk_model::limits::check_memory_within(what, factors, limit)
    };
    check(
        "the variance traces",
        &[
            ("points", n1 + n2),
            ("variances per point", net.trace_len()),
            ("bytes", 8),
        ],
    )?;
    let width = (BLOCK_VALUES / net.state_len().max(1)).clamp(1, BLOCK_PAIRS as u64) as usize;
    check(
        "the kernel states of every thread",
        &[
            ("threads", rayon::current_num_threads() as u64),
            ("position-pair vectors", 12),
            ("pairs per block", width as u64),
            ("values", net.state_len()),
            ("bytes", 8),
        ],
    )?;
    let layers = net.layers().iter().filter(|m| m.ends_layer()).count();
    let outputs = if all_layers { layers } else { 1 };
    check(
        "the kernel matrices",
        &[
            ("matrices", outputs as u64),
            ("entries", n1.saturating_mul(n2)),
            ("bytes", 16),
        ],
    )?;
    // the points, row after row
    let (points1, points2) = (row_major(x1), row_major(x2));
    let d = x1.ncols();
    let (n1, n2) = (x1.nrows(), x2.nrows());
    // every point's variances before each map, point after point (blocks of points in
    // parallel, joined map by map): a block of consecutive points' are a slice
    // blocks of points for the traces: at most TRACE_POINTS (BLOCK_VALUES position-pair values)
    // and at least one block per thread (maps without closed forms cost ~1 ms a point)
    let threads = rayon::current_num_threads().max(1);
    let trace_width =
        (BLOCK_VALUES / net.state_len().max(1)).clamp(1, TRACE_POINTS as u64) as usize;
    let trace_width = |n: usize| trace_width.min(n.div_ceil(threads)).max(1);
    let columns = |xs: &[f64]| -> Result<Vec<Vec<f64>>, KernelError> {
        use rayon::prelude::*;
        let parts = xs
            .par_chunks(trace_width(xs.len() / d) * d)
            .map(|points| net.variance_columns(points))
            .collect::<Result<Vec<_>, _>>()?;
        let maps = parts.first().map_or(0, Vec::len);
        Ok((0..maps)
            .map(|m| parts.iter().flat_map(|p| p[m].iter().copied()).collect())
            .collect())
    };
    let columns1 = columns(&points1)?;
    let other;
    let columns2 = if same_points {
        &columns1
    } else {
        other = columns(&points2)?;
        &other
    };
    // a point's variances Σ^l(x, x) are finite for every kernel the theory has (the sign NTK's
    // ±∞ are in I), and the closed forms multiply two of them (Σ11 Σ22): beyond √(f64::MAX)
    // that product overflows, which a bounded activation would hide behind a finite, wrong
    // value (the sign NNGP of inputs of norm 1e200 gave σb² on its diagonal)
    let largest = f64::MAX.sqrt();
    let sides: [TraceSide<'_>; 2] = [
        (&columns1, &points1, n1, ["the variance Σ(x, x) of a first point (row: the point, column: the map before which; products of two variances must stay below f64::MAX, so variances below 1.3e154: scale the inputs down)", "the variance Σ(x, x) of a first point (row: the point, column: the map before which; products of two variances must stay above f64::MIN_POSITIVE, so variances above 1.5e-154)"]),
        (columns2, &points2, n2, ["the variance Σ(x, x) of a second point (row: the point, column: the map before which; products of two variances must stay below f64::MAX, so variances below 1.3e154: scale the inputs down)", "the variance Σ(x, x) of a second point (row: the point, column: the map before which; products of two variances must stay above f64::MIN_POSITIVE, so variances above 1.5e-154)"]),
    ];
    // and below: the closed forms multiply two variances (det Λ = Σ11 Σ22 − Σ12²), which
    // underflows below √(f64::MIN_POSITIVE) ≈ 1.5e-154 (with σb = 0 the sign NTK of inputs of
    // norm 1e-100 came out +∞ everywhere, taken for its singular values, with status 0), and a
    // variance 0 of a nonzero flat input has lost its scale altogether: both are errors where a
    // map reads the variance (a nonlinearity). A zero point's variances are 0 legitimately (so
    // are a conv position's whose patch is zero), and with σb > 0 a tiny input's own variance is
    // negligible, not read.
    let smallest = f64::MIN_POSITIVE.sqrt();
    let underflows =
        |v: f64, nonzero: bool| (v != 0.0 && v.abs() < smallest) || (nonzero && v == 0.0);
    for (columns, points, n, [over, under]) in sides {
        for row in 0..n {
            let input = &points[row * d..(row + 1) * d];
            let nonzero = net.input().is_flat() && input.iter().any(|&x| x != 0.0);
            for (col, v) in trace_of(columns, n, row).iter().enumerate() {
                if let Some(&value) = v.iter().find(|v| v.is_nan() || v.abs() > largest) {
                    return Err(KernelError::Overflow {
                        what: over,
                        row,
                        col,
                        value,
                    });
                }
                let read = net.layers().get(col).is_some_and(|m| m.uses_variances());
                if let Some(&value) = v.iter().find(|&&v| read && underflows(v, nonzero)) {
                    return Err(KernelError::Underflow {
                        what: under,
                        row,
                        col,
                        value,
                    });
                }
            }
        }
    }
    // the maps' values of each first point, laid out as its variances
    let values1 = net.point_value_columns(&columns1);
    let per_point: Vec<usize> = columns1
        .iter()
        .map(|c| c.len().checked_div(n1).unwrap_or(0))
        .collect();
    let failure = std::sync::Mutex::new(None);
    let nonfinite = std::sync::atomic::AtomicBool::new(false);
    let data = fill(n1, n2, outputs, width, triangle, |j, rows, sink| {
        let xs = &points1[rows.start * d..rows.end * d];
        let slices: Vec<&[f64]> = columns1
            .iter()
            .zip(&per_point)
            .map(|(c, &p)| &c[rows.start * p..rows.end * p])
            .collect();
        // the block's inputs value by value: the columns of the column-major x1
        let by_input: Vec<&[f64]> = if d <= 8 {
            x1.as_slice()
                .chunks_exact(n1.max(1))
                .map(|column| &column[rows.clone()])
                .collect()
        } else {
            Vec::new()
        };
        let values: Vec<&[f64]> = values1
            .iter()
            .zip(&per_point)
            .map(|(c, &p)| c.get(rows.start * p..rows.end * p).unwrap_or(&[]))
            .collect();
        let each = Side::Each {
            xs,
            by_input: &by_input,
            columns: &slices,
            values: &values,
        };
        // a triangle: the pairs (x_j, x_i), i ≥ j (the arithmetic of K(x_j, x_i)); else
        // (x1_i, x2_j)
        let both = triangle == Triangle::Both;
        let (first, second);
        let trace;
        if triangle == Triangle::Full {
            trace = trace_of(columns2, n2, j);
            (first, second) = (each, Side::fixed(row(&points2, d, j), &trace));
        } else {
            trace = trace_of(&columns1, n1, j);
            (first, second) = (Side::fixed(row(&points1, d, j), &trace), each);
        }
        let mut l = 0;
        let mut put = |s: &PairState, l: usize| {
            // flat states' values as they are, else through the readout
            let spatial;
            let values = match (s.entries, kind) {
                (1, KernelKind::Nngp) => &s.k12[..],
                (1, _) => &s.ntk[..],
                _ => {
                    spatial = (0..s.count())
                        .map(|b| value(kind, s, b))
                        .collect::<Vec<_>>();
                    &spatial[..]
                }
            };
            // the finiteness check of the values while they are in cache
            if !all_finite(values) || (both && !all_finite(&s.swapped)) {
                nonfinite.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            match triangle {
                Triangle::Full => sink(l, rows.start, values, &[]),
                Triangle::Mirror => sink(l, rows.start, values, values),
                // (i, j) from the pairs in the other order, (j, i) from these (flat states)
                Triangle::Both => sink(l, rows.start, &s.swapped, values),
            }
        };
        let last = if all_layers {
            net.fold_block(first, second, both, |_, s| {
                put(s, l);
                l += 1;
            })
        } else {
            net.fold_block_output(first, second, both)
        };
        match last {
            Ok(last) if !all_layers => put(&last, 0),
            Ok(_) => {}
            Err(e) => {
                failure.lock().expect("no panics").get_or_insert(e);
            }
        }
    });
    if let Some(e) = failure.into_inner().expect("no panics") {
        return Err(e);
    }
    let data = data.expect("every block without a failure hands its values");
    let mats: Vec<DMatrix<f64>> = if outputs == 1 {
        vec![DMatrix::from_vec(n1, n2, data)]
    } else {
        (0..outputs)
            .map(|m| DMatrix::from_fn(n1, n2, |i, j| data[j * outputs * n1 + m * n1 + i]))
            .collect()
    };
    // The map after which each output is taken: every layer's last map, or the network's last.
    let ends: Vec<usize> = if all_layers {
        (0..net.layers().len())
            .filter(|&i| net.layers()[i].ends_layer())
            .collect()
    } else {
        vec![net.layers().len().saturating_sub(1)]
    };
    // every block checked its values: only a matrix with an infinite or NaN value is searched
    if !nonfinite.into_inner() {
        return Ok(mats);
    }
    for (m, &last) in mats.iter().zip(&ends) {
        check_kernel_values("kernel output", m, |i, j| {
            net.singular_until(
                net.input_state(row(&points1, d, i), row(&points2, d, j)),
                &trace_of(&columns1, n1, i),
                &trace_of(columns2, n2, j),
                last,
            )
        })?;
    }
    Ok(mats)
}

/// The kernel matrix of any composition of layer maps (the public way in for new architectures,
/// e.g. [`crate::analytic::residual_network`]): Σ at the output for [`KernelKind::Nngp`], I
/// otherwise. The derivative pair is the one each [`super::Nonlinearity`] of `net` was built with.
pub fn network_kernel_matrix(
    net: &Network,
    kind: KernelKind,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
) -> Result<DMatrix<f64>, KernelError> {
    net.check_kind(kind)?;
    Ok(fold_matrices(net, kind, x1, x2, false)?.remove(0))
}

/// The analytic kernel matrix K(X1, X2) at the output layer (rows of `x1` are the first argument,
/// which carries the true derivative g1; columns of `x2` carry g2).
///
/// [`KernelKind::Nngp`] gives κ² Σ^L (the covariance of f_0), the others the driving kernel
/// κ² I^L (g = κ f, docs/MATH.md §5). Entries may be ±∞ where the theory makes them so (the
/// singular sign NTK, Sec. 2.3: +∞ on its diagonal, −∞ at antipodal inputs when σb = 0); an f64
/// overflow anywhere else is [`KernelError::Overflow`].
///
/// `spec` is a [`KernelSpec`] (the MLP) or any [`Kernels`] (e.g. a `NetSpec`).
pub fn kernel_matrix<'a>(
    spec: impl Into<Kernels<'a>>,
    kind: KernelKind,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
) -> Result<DMatrix<f64>, KernelError> {
    check_inputs(x1, x2)?;
    let net = spec.into().network(kind, x1.ncols())?;
    network_kernel_matrix(&net, kind, x1, x2)
}

/// The kernel matrices of every layer l = 1 … L (Σ^l or I^l; κ enters at l = L only).
pub fn kernel_layers<'a>(
    spec: impl Into<Kernels<'a>>,
    kind: KernelKind,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
) -> Result<Vec<DMatrix<f64>>, KernelError> {
    check_inputs(x1, x2)?;
    let net = spec.into().network(kind, x1.ncols())?;
    fold_matrices(&net, kind, x1, x2, true)
}

/// The kernel K(x, y) for one pair of inputs.
pub fn kernel_pair<'a>(
    spec: impl Into<Kernels<'a>>,
    kind: KernelKind,
    x: &[f64],
    y: &[f64],
) -> Result<f64, KernelError> {
    let x1 = DMatrix::from_row_slice(1, x.len(), x);
    let x2 = DMatrix::from_row_slice(1, y.len(), y);
    Ok(kernel_matrix(spec, kind, &x1, &x2)?[(0, 0)])
}

#[cfg(test)]
mod tests {
    use sgntk_model::{Activation, Layer, NetSpec, Padding, ResidualConfig, Surrogate};

    use super::*;
    use crate::analytic::{KernelSpec, Kernels, Method};

    /// Points of dimension `d` (deterministic), with a repeated point (an off-diagonal x = x').
    fn points(n: usize, d: usize) -> DMatrix<f64> {
        let mut x = DMatrix::from_fn(n, d, |i, j| ((1 + i * d + j) as f64 * 0.7).sin());
        let first = x.row(0).into_owned();
        x.set_row(n - 1, &first);
        x
    }

    /// The matrices from one triangle's pairs (mirrored, or both orders) against the full
    /// computation, for every layer: equal bit for bit where the arithmetic of (x, x') and
    /// (x', x) is the same, else within `tol` relative (the sign NTK's +∞ diagonal equal);
    /// returns whether it mirrored.
    fn check_mirror(net: &Network, kind: KernelKind, x: &DMatrix<f64>, tol: f64) -> bool {
        let full = fold_matrices_mirrored(net, kind, x, x, true, false).unwrap();
        let mirrored = fold_matrices_mirrored(net, kind, x, x, true, true).unwrap();
        for (f, m) in full.iter().zip(&mirrored) {
            for (u, v) in m.iter().zip(f.iter()) {
                assert!(
                    u == v || (u - v).abs() <= tol * v.abs(),
                    "{kind:?}: mirrored {u} vs full {v}"
                );
            }
            if net.symmetric() {
                assert_eq!(m, &m.transpose(), "{kind:?}: mirrored, so symmetric");
            }
        }
        net.symmetric()
    }

    /// The output kernel (Dense maps and the nonlinearities after them in one pass each,
    /// [`LayerMap::pair_after`]) equals the last layer of [`kernel_layers`] (every map on its
    /// own) bit for bit: sign, step, erf and ReLU MLPs, every kind, one set of points and two; a
    /// Dense map with σw = 0 (its 0 · ∞ guard) is not fused.
    #[test]
    fn fused_passes_are_the_maps_one_by_one() {
        let x = points(9, 3);
        let y = points(5, 3).map(|v| 0.8 * v - 0.1);
        let mut fused = 0;
        for act in [
            Activation::Sign,
            Activation::Step,
            Activation::Erf { m: 2.0 },
            Activation::Relu,
        ] {
            for sigma_w in [1.3, 0.7] {
                let mut spec = KernelSpec::paper(act, Surrogate::ErfPrime { a: 2.0 });
                spec.sigma_w = sigma_w;
                for kind in [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk] {
                    for other in [&x, &y] {
                        let output = kernel_matrix(&spec, kind, &x, other).unwrap();
                        let layers = kernel_layers(&spec, kind, &x, other).unwrap();
                        let last = layers.last().unwrap();
                        for (a, b) in output.iter().zip(last.iter()) {
                            assert_eq!(a.to_bits(), b.to_bits(), "{act} σw {sigma_w} {kind:?}");
                        }
                    }
                    let net = spec.network(kind, 3).unwrap();
                    let dense = net.layers()[0].dense().expect("a Dense map first");
                    let mut s = net.input_state(&[0.1, 0.2, 0.3], &[0.3, -0.1, 0.5]);
                    let d = [0.2];
                    fused += usize::from(net.layers()[1].pair_after(
                        dense,
                        [&d, &d],
                        [&[], &[]],
                        &mut s,
                    ));
                }
            }
        }
        // the pass runs for closed forms in lanes with σw ≠ 0 (not ReLU's SG-NTK: an integral)
        assert_eq!(fused, 2 * (3 * 3 + 2));
    }

    #[test]
    fn symmetric_kernels_mirror_the_upper_triangle() {
        let g = Surrogate::ErfPrime { a: 1.0 };
        let x = points(7, 3);
        // closed forms: the arithmetic of (x, x') and (x', x) differs at most in the order of a
        // sum (the Gaussian density's det + s Λ22 + t Λ11), so 1e-15 relative (a few ulp)
        for act in [
            Activation::Erf { m: 1.0 },
            Activation::Relu,
            Activation::Sign,
        ] {
            let spec = KernelSpec::paper(act, g);
            for kind in [KernelKind::Nngp, KernelKind::Ntk] {
                let net = spec.network(kind, 3).unwrap();
                assert!(check_mirror(&net, kind, &x, 1e-15), "{act} {kind:?}");
            }
            // the SG-NTK (g1 ≠ g2: φ' against erf' with a = 2) is not mirrored (with a = 1 and
            // erf:1, g1 = g2 and it is the NTK): one triangle's pairs give both orders from
            // one Σ, whose closed forms for φ = erf, ReLU, sign are symmetric bit for bit, so
            // the whole matrix is the full computation's bit for bit
            let spec = KernelSpec::paper(act, Surrogate::ErfPrime { a: 2.0 });
            let net = spec.network(KernelKind::SgNtk, 3).unwrap();
            assert!(net.swaps(), "{act}");
            assert!(!check_mirror(&net, KernelKind::SgNtk, &x, 0.0), "{act}");
            // the same through residual blocks, all layers
            let mut config = ResidualConfig::new(8, 2, act);
            config.input_dim = 3;
            let net = crate::analytic::residual_network(
                &config,
                KernelKind::SgNtk,
                Surrogate::ErfPrime { a: 2.0 },
                Method::Auto,
            )
            .unwrap();
            assert!(net.swaps(), "{act}");
            assert!(!check_mirror(&net, KernelKind::SgNtk, &x, 0.0), "{act}");
        }
        // tanh: the trapezoid rule on the swapped covariance uses other nodes; both within its
        // error control, 1e-12 relative (the NTK mirrored, the SG-NTK in both orders)
        let tanh = KernelSpec::paper(Activation::Tanh, g);
        let x3 = points(4, 2);
        let net = tanh.network(KernelKind::Ntk, 2).unwrap();
        assert!(check_mirror(&net, KernelKind::Ntk, &x3, 1e-12));
        let tanh = KernelSpec::paper(Activation::Tanh, Surrogate::ErfPrime { a: 2.0 });
        let net = tanh.network(KernelKind::SgNtk, 2).unwrap();
        assert!(!check_mirror(&net, KernelKind::SgNtk, &x3, 1e-12));
        // convolutional networks, same positions (flatten) and all pairs (global average pool)
        for readout in [Layer::Flatten, Layer::GlobalAveragePool] {
            let spec = NetSpec {
                input_shape: vec![4, 2],
                layers: vec![
                    Layer::Conv {
                        channels: 3,
                        filter: vec![3],
                        padding: Padding::Same,
                    },
                    Layer::Act(Activation::Erf { m: 2.0 }),
                    readout,
                    Layer::Dense { width: 1 },
                ],
                sigma_w: 1.2,
                sigma_b: 0.3,
                kappa: 0.7,
            };
            let kernels = Kernels::Spec {
                spec: &spec,
                surrogate: g,
                method: Method::Auto,
            };
            let x = points(5, 8);
            for kind in [KernelKind::Nngp, KernelKind::Ntk] {
                let net = kernels.network(kind, 8).unwrap();
                assert!(check_mirror(&net, kind, &x, 1e-15), "{kind:?}");
            }
        }
    }
}
