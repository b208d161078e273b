//! The vector type of the fused kernels and the run-time choice of instruction set.
//!
//! The kernels are written once, generic over [`Simd16`] (16 f32 lanes with load, store, splat,
//! multiply-add and add) and a register-row count `R`. [`Block`] implements `Simd16` on any
//! [`macerator`] backend as `N` native vectors of `16 / N` lanes: one AVX-512 register, two AVX2
//! registers, four NEON or SSE4.2 registers, eight of the scalar fallback's 2-lane registers.
//! [`Isa::run`] enters a [`Kernel`] through macerator's dispatch, which compiles it with the
//! backend's target features; that, and only that, is what makes the intrinsics sound, so this
//! module is crate-private.

use macerator::{Arch, Scalar, Simd, VMulAdd, Vector, WithSimd};

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
    /// `a · b + c` lane-wise (one rounding where the CPU has FMA, else multiply then add).
    fn fmadd(a: Self, b: Self, c: Self) -> Self;
    /// `a + b` lane-wise.
    fn add(a: Self, b: Self) -> Self;
}

/// `std::array::from_fn`, but always inlined: a vector load or FMA inside `f` must stay in the
/// caller's target-feature context, and `from_fn` itself is inlined only when LLVM's size
/// heuristics allow (not in a large step body, where every vector load became a call).
#[inline(always)]
pub(crate) fn array<T: Copy, const N: usize>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut out = [std::mem::MaybeUninit::<T>::uninit(); N];
    for (i, slot) in out.iter_mut().enumerate() {
        slot.write(f(i));
    }
    // SAFETY: every element is initialized, and [MaybeUninit<T>; N] has the layout of [T; N].
    unsafe { (&out as *const [std::mem::MaybeUninit<T>; N] as *const [T; N]).read() }
}

/// 16 lanes as `N` vectors of backend `S` (`N · lanes(S) = 16`, checked by [`Isa::run`]).
pub struct Block<S: Simd, const N: usize>([Vector<S, f32>; N]);

impl<S: Simd, const N: usize> Clone for Block<S, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: Simd, const N: usize> Copy for Block<S, N> {}

impl<S: Simd, const N: usize> Block<S, N> {
    /// Lanes per native vector.
    const WIDTH: usize = 16 / N;
}

impl<S: Simd, const N: usize> Simd16 for Block<S, N> {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable floats; vector i covers p[i·W .. (i+1)·W].
        Block(array(|i| unsafe {
            f32::vload_unaligned::<S>(p.add(i * Self::WIDTH))
        }))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        for (i, v) in self.0.into_iter().enumerate() {
            // SAFETY: as in `load`, for writing.
            unsafe { f32::vstore_unaligned::<S>(p.add(i * Self::WIDTH), v) };
        }
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Block([x.splat::<S>(); N])
    }
    #[inline(always)]
    fn fmadd(a: Self, b: Self, c: Self) -> Self {
        // One instruction where the backend has FMA; the scalar fallback's `mul_add` would call
        // the (slow) software fma, so there it is a multiply and an add.
        let fused = <f32 as VMulAdd>::is_accelerated::<S>();
        Block(array(|i| {
            if fused {
                a.0[i].mul_add(b.0[i], c.0[i])
            } else {
                a.0[i] * b.0[i] + c.0[i]
            }
        }))
    }
    #[inline(always)]
    fn add(a: Self, b: Self) -> Self {
        Block(array(|i| a.0[i] + b.0[i]))
    }
}

/// A computation written once over the vector type `V` and `R` register rows (how many rows of
/// W a kernel keeps in flight; more where the CPU has more vector registers).
pub trait Kernel {
    /// What it returns.
    type Output;
    /// Runs it with vector type `V`.
    fn run<V: Simd16, const R: usize>(self) -> Self::Output;
}

/// The instruction sets the fused kernels are compiled for, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64-v4: AVX-512 (F, BW, CD, DQ, VL) with FMA.
    Avx512,
    /// x86-64-v3: AVX2 with FMA.
    Avx2,
    /// x86-64-v2: SSE4.2 (multiply then add).
    Sse42,
    /// aarch64 NEON with FMA.
    Neon,
    /// Any CPU: the scalar backend (multiply then add; the compiler vectorizes what it can).
    Portable,
}

impl Isa {
    /// Every instruction set, best first.
    const ALL: [Isa; 5] = [Isa::Avx512, Isa::Avx2, Isa::Sse42, Isa::Neon, Isa::Portable];

    /// The fastest instruction set this CPU supports.
    pub fn detect() -> Isa {
        Isa::supported()[0]
    }

    /// Whether this CPU can run `self` (feature detection is cached by macerator).
    pub fn is_supported(self) -> bool {
        let best = Isa::from_arch(Arch::detect());
        // Each x86 level includes the ones below it; NEON stands alone.
        match (self, best) {
            (Isa::Portable, _) => true,
            (Isa::Neon, best) => best == Isa::Neon,
            (isa, best) => best != Isa::Neon && best as u8 <= isa as u8,
        }
    }

    /// Every instruction set this CPU can run (for tests that compare them).
    pub fn supported() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    fn from_arch(arch: Arch) -> Isa {
        #[allow(unreachable_patterns)]
        match arch {
            #[cfg(target_arch = "x86_64")]
            Arch::V4 => Isa::Avx512,
            #[cfg(target_arch = "x86_64")]
            Arch::V3 => Isa::Avx2,
            #[cfg(target_arch = "x86_64")]
            Arch::V2 => Isa::Sse42,
            #[cfg(target_arch = "aarch64")]
            Arch::NeonFma => Isa::Neon,
            _ => Isa::Portable,
        }
    }

    fn arch(self) -> Arch {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Arch::V4,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Arch::V3,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse42 => Arch::V2,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Arch::NeonFma,
            _ => Arch::Scalar,
        }
    }

    /// Runs `kernel` compiled for this instruction set.
    ///
    /// # Panics
    /// If this CPU does not support `self` (use [`Isa::detect`]).
    pub(crate) fn run<K: Kernel>(self, kernel: K) -> K::Output {
        assert!(self.is_supported(), "{self:?} is not supported here");
        // SAFETY: the CPU has the features of `self.arch()` (checked above).
        unsafe { self.arch().dispatch(OnBackend(kernel)) }
    }
}

/// Adapts a [`Kernel`] to macerator's dispatch: picks the [`Block`] of the backend's width.
struct OnBackend<K>(K);

impl<K: Kernel> WithSimd for OnBackend<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: Simd>(self) -> K::Output {
        // `size_of` of the register is a constant of `S`, so only one arm is compiled for each
        // backend. 32 vector registers on AVX-512 leave room for 8 rows; 16 on AVX2 for 4.
        match const { size_of::<S::Register>() } {
            64 => self.0.run::<Block<S, 1>, 8>(),
            32 => self.0.run::<Block<S, 2>, 4>(),
            16 => self.0.run::<Block<S, 4>, 4>(),
            8 => self.0.run::<Block<S, 8>, 4>(),
            bytes => unreachable!("a {bytes}-byte SIMD register"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every supported backend's block computes the same lane-wise a·b + c and a + b as f32
    /// arithmetic (exact inputs, so fused and unfused agree), and loads/stores in lane order.
    #[test]
    fn every_backend_block_is_16_lanes_in_order() {
        struct Probe;
        impl Kernel for Probe {
            type Output = ([f32; 16], [f32; 16]);
            fn run<V: Simd16, const R: usize>(self) -> Self::Output {
                let a: [f32; 16] = std::array::from_fn(|i| i as f32);
                let b: [f32; 16] = std::array::from_fn(|i| 2.0 - i as f32 * 0.5);
                let (mut fma, mut sum) = ([0.0; 16], [0.0; 16]);
                // SAFETY: 16-float arrays.
                unsafe {
                    let (va, vb) = (V::load(a.as_ptr()), V::load(b.as_ptr()));
                    V::fmadd(va, vb, V::splat(3.0)).store(fma.as_mut_ptr());
                    V::add(va, vb).store(sum.as_mut_ptr());
                }
                (fma, sum)
            }
        }
        assert!(Isa::supported().contains(&Isa::Portable));
        for isa in Isa::supported() {
            let (fma, sum) = isa.run(Probe);
            for i in 0..16 {
                let (a, b) = (i as f32, 2.0 - i as f32 * 0.5);
                assert_eq!(fma[i], a * b + 3.0, "{isa:?} lane {i}");
                assert_eq!(sum[i], a + b, "{isa:?} lane {i}");
            }
        }
    }
}
