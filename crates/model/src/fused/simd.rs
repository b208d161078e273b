//! A 16-float vector with the handful of operations the fused kernels need, implemented for
//! AVX-512 (one register), AVX2 (two registers) and plain arrays (any CPU).
//!
//! The x86 implementations use `std::arch` intrinsics; they are only instantiated inside
//! functions compiled with the matching `#[target_feature]` and entered after run-time feature
//! detection (see `super::step`), which is what makes their `unsafe` blocks sound. That is why
//! this module is crate-private: outside code could call the safe `splat`/`fmadd` of
//! [`Avx512`] or [`Avx2`] on a CPU without those instructions.

/// 16 f32 values in registers.
pub trait Simd16: Copy {
    /// Loads 16 floats from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` must be valid for reading 16 floats.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores 16 floats at `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` must be valid for writing 16 floats.
    unsafe fn store(self, p: *mut f32);
    /// All lanes `x`.
    fn splat(x: f32) -> Self;
    /// `a · b + c` lane-wise (fused where the CPU has FMA).
    fn fmadd(a: Self, b: Self, c: Self) -> Self;
    /// `a + b` lane-wise.
    fn add(a: Self, b: Self) -> Self;
}

/// Plain arrays: any CPU (the compiler vectorizes what it can).
#[derive(Clone, Copy)]
pub struct Portable([f32; 16]);

impl Simd16 for Portable {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::ptr::read_unaligned(p as *const [f32; 16]))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        std::ptr::write_unaligned(p as *mut [f32; 16], self.0)
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Portable([x; 16])
    }
    #[inline(always)]
    fn fmadd(a: Self, b: Self, c: Self) -> Self {
        Portable(std::array::from_fn(|i| a.0[i] * b.0[i] + c.0[i]))
    }
    #[inline(always)]
    fn add(a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|i| a.0[i] + b.0[i]))
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Simd16;
    use std::arch::x86_64::*;

    /// One AVX-512 register. Only used inside `#[target_feature(enable = "avx512f")]` code.
    #[derive(Clone, Copy)]
    pub struct Avx512(__m512);

    impl Simd16 for Avx512 {
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx512(_mm512_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm512_storeu_ps(p, self.0)
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: only reached from code entered after detecting avx512f (module docs).
            Avx512(unsafe { _mm512_set1_ps(x) })
        }
        #[inline(always)]
        fn fmadd(a: Self, b: Self, c: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_fmadd_ps(a.0, b.0, c.0) })
        }
        #[inline(always)]
        fn add(a: Self, b: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_add_ps(a.0, b.0) })
        }
    }

    /// Two AVX2 registers. Only used inside `#[target_feature(enable = "avx2,fma")]` code.
    #[derive(Clone, Copy)]
    pub struct Avx2(__m256, __m256);

    impl Simd16 for Avx2 {
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm256_storeu_ps(p, self.0);
            _mm256_storeu_ps(p.add(8), self.1);
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: only reached from code entered after detecting avx2 and fma (module docs).
            unsafe { Avx2(_mm256_set1_ps(x), _mm256_set1_ps(x)) }
        }
        #[inline(always)]
        fn fmadd(a: Self, b: Self, c: Self) -> Self {
            // SAFETY: as above.
            unsafe {
                Avx2(
                    _mm256_fmadd_ps(a.0, b.0, c.0),
                    _mm256_fmadd_ps(a.1, b.1, c.1),
                )
            }
        }
        #[inline(always)]
        fn add(a: Self, b: Self) -> Self {
            // SAFETY: as above.
            unsafe { Avx2(_mm256_add_ps(a.0, b.0), _mm256_add_ps(a.1, b.1)) }
        }
    }
}
