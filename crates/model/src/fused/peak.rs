//! This machine's measured f32 FMA peak ([`fma_peak_gflops`]): the ceiling `sgntk bench` states
//! each case's GFLOP/s against.
//!
//! The loop keeps `R + R/2` independent multiply-add chains of 16 lanes in registers (12
//! AVX-512 registers, or 12 AVX2 registers as 6 blocks of two; R is the fused kernels' register
//! row count), enough to cover the FMA latency × issue width of current x86 and ARM cores, and
//! counts 2 FLOPs per lane and FMA. Nothing is loaded or stored inside the loop.

use std::time::Instant;

use super::simd::{Isa, Kernel, Simd16};

/// `iters` rounds of x ← x · a + b on `R + R/2` independent 16-lane chains; returns a lane sum
/// (so the work cannot be removed) and the number of FMAs × 16 lanes done.
struct FmaLoop {
    iters: usize,
}

impl Kernel for FmaLoop {
    type Output = (f32, u64);
    #[inline(always)]
    fn run<V: Simd16, const R: usize>(self) -> (f32, u64) {
        // Inlined into the caller compiled with the ISA's target features (as every kernel).
        #[inline(always)]
        fn chains<V: Simd16, const C: usize>(iters: usize) -> (f32, u64) {
            let a = V::splat(std::hint::black_box(0.999_9));
            let b = V::splat(std::hint::black_box(1e-4));
            let mut x: [V; C] = super::simd::array(|i| V::splat(i as f32 * 0.01));
            for _ in 0..iters {
                for v in x.iter_mut() {
                    *v = V::fmadd(*v, a, b);
                }
            }
            let mut out = [0.0f32; 16];
            let mut sum = 0.0;
            for v in x {
                // SAFETY: `out` holds 16 floats.
                unsafe { v.store(out.as_mut_ptr()) };
                sum += out.iter().sum::<f32>();
            }
            (sum, (iters * C * 16) as u64)
        }
        match R {
            8 => chains::<V, 12>(self.iters),
            _ => chains::<V, 6>(self.iters),
        }
    }
}

/// The f32 multiply-add peak of this machine on `isa` with `threads` threads running at once,
/// in GFLOP/s (2 FLOPs per multiply-add): the best of 5 timed runs of about 2·10⁹ FLOPs per
/// thread, after one untimed run.
///
/// # Panics
/// If `isa` is not supported by this CPU (use [`Isa::detect`]).
pub fn fma_peak_gflops(isa: Isa, threads: usize) -> f64 {
    peak(isa, threads, 1 << 22)
}

/// [`fma_peak_gflops`] with `iters` rounds per thread and run.
fn peak(isa: Isa, threads: usize, iters: usize) -> f64 {
    assert!(isa.is_supported(), "{isa:?} is not supported here");
    let threads = threads.max(1);
    let run_all = || -> f64 {
        let start = Instant::now();
        let lanes: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| s.spawn(move || isa.run(FmaLoop { iters })))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    let (sum, lanes) = h.join().expect("the FMA loop does not panic");
                    std::hint::black_box(sum);
                    lanes
                })
                .sum()
        });
        2.0 * lanes as f64 / start.elapsed().as_secs_f64() / 1e9
    };
    run_all();
    (0..5).map(|_| run_all()).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop's FLOP count is its work: FmaLoop's chains after `iters` rounds equal the same
    /// recursion in scalar f32 (so the counted multiply-adds are done, not folded away), and a
    /// measured peak is a positive finite rate.
    #[test]
    fn the_fma_loop_does_the_counted_work() {
        let iters = 1000;
        for isa in Isa::supported() {
            let (sum, lanes) = isa.run(FmaLoop { iters });
            let chains = lanes as usize / (iters * 16);
            assert!(chains == 6 || chains == 12, "{isa:?}: {chains} chains");
            let mut expected = 0.0f32;
            for i in 0..chains {
                let mut x = i as f32 * 0.01;
                for _ in 0..iters {
                    x = x.mul_add(0.999_9, 1e-4);
                }
                expected += 16.0 * x;
            }
            let tol = 1e-4 * expected.abs();
            assert!(
                (sum - expected).abs() <= tol,
                "{isa:?}: {sum} vs {expected}"
            );
        }
        let peak = peak(Isa::detect(), 2, 1000);
        assert!(peak.is_finite() && peak > 0.0, "{peak}");
    }
}
