//! Closed forms vs numerical quadrature (the oracle), and the 1-D paths (S76–S81, finite-m formula).

use std::f64::consts::PI;

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Surrogate};
use sgntk_ntk::analytic::quadrature::expect_2d_adaptive;
use sgntk_ntk::{
    kernel_matrix, pair_expectation, GaussHermiteRule, KernelKind, KernelSpec, Method, ScalarFn,
};

/// Different norms and directions; the last point repeats the first (x = x' off the diagonal too).
fn points() -> DMatrix<f64> {
    DMatrix::from_row_slice(4, 2, &[0.5, 0.0, 0.0, 2.0, -1.2, -0.7, 0.5, 0.0])
}

/// max |a − b| / max(|b|, 1e-3)
fn max_rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-3))
        .fold(0.0, f64::max)
}

const KINDS: [KernelKind; 3] = [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk];

/// The largest relative error recorded so far.
#[derive(Default)]
struct WorstError(f64);

impl WorstError {
    /// Asserts `err < tol` (showing `what` otherwise) and keeps it if it is the largest yet.
    fn record(&mut self, err: f64, tol: f64, what: std::fmt::Arguments) {
        assert!(err < tol, "{what}");
        self.0 = self.0.max(err);
    }

    /// Prints the largest error under the heading `what`.
    fn report(&self, what: &str) {
        println!("{what}: max rel err {:.2e}", self.0);
    }
}

/// `spec`'s `kind` kernel on `x`, computed by `method`.
fn kernel_by(
    spec: &KernelSpec,
    method: Method,
    kind: KernelKind,
    x: &DMatrix<f64>,
) -> DMatrix<f64> {
    kernel_matrix(&spec.with_method(method), kind, x, x).unwrap()
}

/// [`max_rel`] of tensor Gauss–Hermite quadrature of `degree` against `reference`.
fn gauss_hermite_error(
    spec: &KernelSpec,
    kind: KernelKind,
    x: &DMatrix<f64>,
    degree: usize,
    reference: &DMatrix<f64>,
) -> f64 {
    max_rel(
        &kernel_by(spec, Method::Quadrature { degree }, kind, x),
        reference,
    )
}

#[test]
fn erf_m_closed_forms_match_adaptive_2d_quadrature() {
    let x = points();
    let mut worst = WorstError::default();
    for m in [2.0, 5.0] {
        for a in [1.0, 3.0] {
            let spec = KernelSpec::paper(Activation::Erf { m }, Surrogate::ErfPrime { a });
            for kind in KINDS {
                if a != 1.0 && kind != KernelKind::SgNtk {
                    continue;
                }
                let exact = kernel_matrix(&spec, kind, &x, &x).unwrap();
                let quad = kernel_by(&spec, Method::Adaptive, kind, &x);
                let err = max_rel(&quad, &exact);
                worst.record(err, 1e-10, format_args!("m {m} a {a} {kind:?}: {err:e}"));
            }
        }
    }
    worst.report("closed vs adaptive 2-D quadrature, erf m = 2, 5");
}

#[test]
fn gauss_hermite_2d_converges_to_the_closed_forms() {
    let x = points();
    // smooth on the Gaussian's scale: degree 64 reaches 1e-8
    let spec = KernelSpec::paper(Activation::Erf { m: 0.5 }, Surrogate::ErfPrime { a: 0.5 });
    let mut worst = WorstError::default();
    for kind in KINDS {
        let exact = kernel_matrix(&spec, kind, &x, &x).unwrap();
        let err = gauss_hermite_error(&spec, kind, &x, 64, &exact);
        worst.record(err, 1e-8, format_args!("m 0.5 {kind:?}: {err:e}"));
    }
    worst.report("Gauss-Hermite degree 64, erf m = 0.5");
    // m = 2: erf(2u) is too sharp for tensor Gauss–Hermite at degree 64 (see Method::Adaptive);
    // it still converges
    let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::ErfPrime { a: 1.0 });
    for kind in KINDS {
        let exact = kernel_matrix(&spec, kind, &x, &x).unwrap();
        let e = |deg| gauss_hermite_error(&spec, kind, &x, deg, &exact);
        let (e32, e64, e128) = (e(32), e(64), e(128));
        println!(
            "Gauss-Hermite, erf m = 2, {kind:?}: deg 32 {e32:.1e}, 64 {e64:.1e}, 128 {e128:.1e}"
        );
        assert!(e128 < e64 && e64 < e32 && e128 < 1e-3);
    }
}

/// S76 as printed in docs/MATH.md §5, written out independently: E[erf_m'(u) erf'(v)] with s = 1/(2m²)
/// (s = 0: sign).
fn s76(s: f64, l11: f64, l12: f64, l22: f64) -> f64 {
    2.0 / PI / ((l11 + s) * (l22 + 0.5) - l12 * l12).sqrt()
}

#[test]
fn sign_and_erf_m_with_erf_prime_through_the_1d_path_equal_s76() {
    let rule = GaussHermiteRule::new(8).unwrap();
    let auto = Method::default();
    // erf-prime as an opaque pointwise surrogate forces the 1-D expectation E_Y[σ̃(Y)] (S78/S80)
    let opaque = ScalarFn::Surrogate(Surrogate::ErfPrime { a: 1.0 });
    let mut worst = WorstError::default();
    for (l11, l12, l22) in [
        (0.51, 0.2, 0.7),
        (2.01, -1.3, 1.2),
        (0.06, 0.05, 0.3),
        (0.7, 0.7, 0.7),
    ] {
        for s in [0.0, 0.5 / 25.0, 0.5 / 4.0] {
            let delta = ScalarFn::Bump { w: 2.0, s };
            let got = pair_expectation(&delta, &opaque, l11, l12, l22, auto, &rule);
            let want = s76(s, l11, l12, l22);
            let err = ((got - want) / want).abs();
            worst.record(
                err,
                1e-10,
                format_args!("Λ ({l11}, {l12}, {l22}) s {s}: {got} vs {want}"),
            );
        }
    }
    // S79 on the diagonal: √(2/π) Λ^(−1/2) σ̃(0) for any bounded σ̃
    for g in [
        Surrogate::Triangle { w: 0.7 },
        Surrogate::FastSigmoid { k: 3.0 },
        Surrogate::Boxcar { w: 0.2 },
    ] {
        let l = 0.8;
        let got = pair_expectation(
            &ScalarFn::Bump { w: 2.0, s: 0.0 },
            &ScalarFn::Surrogate(g),
            l,
            l,
            l,
            auto,
            &rule,
        );
        let want = (2.0 / PI).sqrt() / l.sqrt() * g.eval(&Activation::Sign, 0.0);
        assert!(((got - want) / want).abs() < 1e-14, "{g}: {got} vs {want}");
    }
    worst.report("sign/erf_m + erf-prime via the 1-D path vs S76");
}

#[test]
fn finite_m_formula_with_kinked_surrogates_matches_2d_quadrature() {
    let rule = GaussHermiteRule::new(8).unwrap();
    let mut worst = WorstError::default();
    for g in [
        Surrogate::Triangle { w: 0.5 },
        Surrogate::Boxcar { w: 0.3 },
        Surrogate::FastSigmoid { k: 4.0 },
        Surrogate::Atan { a: 2.0 },
        Surrogate::Sigmoid { k: 3.0 },
    ] {
        for m in [1.0, 5.0] {
            let bump = ScalarFn::Bump {
                w: 2.0,
                s: 0.5 / (m * m),
            };
            let sg = ScalarFn::Surrogate(g);
            for (l11, l12, l22) in [(0.51, 0.2, 0.7), (1.5, -1.0, 0.9)] {
                let closed = pair_expectation(&bump, &sg, l11, l12, l22, Method::default(), &rule);
                let quad = expect_2d_adaptive(
                    l11,
                    l12,
                    l22,
                    |u| bump.eval(u),
                    &[],
                    |v| sg.eval(v),
                    &g.kinks(),
                );
                let err = ((closed - quad) / quad).abs();
                worst.record(err, 1e-10, format_args!("{g} m {m}: {closed} vs {quad}"));
            }
        }
    }
    worst.report("finite-m 1-D formula vs 2-D adaptive quadrature, kinked surrogates");
}

#[test]
fn other_activations_match_quadrature() {
    let x = points();
    let mut worst = WorstError::default();
    // relu (arc-cosine closed forms), step (affine sign), tanh (Gauss–Hermite fallback), erf with
    // kinked surrogates (1-D formula) — each against the nested adaptive quadrature
    let cases = [
        (
            Activation::Relu,
            Surrogate::True,
            vec![KernelKind::Nngp, KernelKind::Ntk],
        ),
        (
            Activation::Relu,
            Surrogate::Atan { a: 1.0 },
            vec![KernelKind::SgNtk],
        ),
        (
            Activation::Step,
            Surrogate::Triangle { w: 1.0 },
            vec![KernelKind::Nngp],
        ),
        (
            Activation::Erf { m: 2.0 },
            Surrogate::FastSigmoid { k: 2.0 },
            vec![KernelKind::SgNtk],
        ),
        (
            Activation::Erf { m: 2.0 },
            Surrogate::Boxcar { w: 0.5 },
            vec![KernelKind::SgNtk],
        ),
        (
            Activation::Identity,
            Surrogate::Triangle { w: 1.0 },
            vec![KernelKind::Ntk, KernelKind::SgNtk],
        ),
    ];
    for (act, g, kinds) in cases {
        let spec = KernelSpec::paper(act, g);
        for kind in kinds {
            let auto = kernel_matrix(&spec, kind, &x, &x).unwrap();
            let quad = kernel_by(&spec, Method::Adaptive, kind, &x);
            let err = max_rel(&auto, &quad);
            worst.record(err, 1e-9, format_args!("{act} {g} {kind:?}: {err:e}"));
        }
    }
    // tanh has no closed form (Auto = adaptive); tensor Gauss–Hermite converges to it slowly at
    // |x| = 2: degree 64 to ~1e-5, 128 to ~1e-7
    let spec = KernelSpec::paper(Activation::Tanh, Surrogate::Sigmoid { k: 2.0 });
    for kind in KINDS {
        let quad = kernel_matrix(&spec, kind, &x, &x).unwrap();
        let e = |deg| gauss_hermite_error(&spec, kind, &x, deg, &quad);
        let (e64, e128) = (e(64), e(128));
        println!("tanh {kind:?}: Gauss-Hermite degree 64 {e64:.1e}, 128 {e128:.1e}");
        assert!(
            e64 < 1e-4 && e128 < 1e-6 && e128 < e64,
            "tanh {kind:?}: {e64:e} {e128:e}"
        );
    }
    // identity activation: the kernel is linear-algebraic, Σ^1 = ⟨x,x'⟩/2 + σb², NTK = L·Σ for L layers
    let spec = KernelSpec::paper(Activation::Identity, Surrogate::True);
    let ntk = kernel_matrix(&spec, KernelKind::Ntk, &x, &x).unwrap();
    let nngp = kernel_matrix(&spec, KernelKind::Nngp, &x, &x).unwrap();
    let s1 = (&x * x.transpose()) * 0.5 + DMatrix::from_element(4, 4, 0.01);
    let s3 = s1.map(|v| v + 0.02);
    let i3 = s3.clone() + s1.map(|v| v + 0.01) + s1;
    assert!(max_rel(&nngp, &s3) < 1e-14 && max_rel(&ntk, &i3) < 1e-14);
    worst.report("relu/step/tanh/identity/kinked surrogates vs adaptive quadrature");
}

/// Issue 30 (item 5): the trapezoid rule with error control (`expect_2d_smooth`, the Auto path of
/// smooth integrands without a closed form) agrees with the nested adaptive rule to 1e-10
/// relative on tanh, tanh', sigmoid' and atan' (φ, g1, g2 of the tanh NTK and its SG-NTKs), on
/// covariances from tiny to large variance, uncorrelated, anti-correlated, nearly degenerate
/// (ρ = 1 − 1e-7, 1 − 1e-12) and degenerate (x = x', Λ11 = 0).
#[test]
fn smooth_trapezoid_matches_the_adaptive_quadrature() {
    let fns = [
        ScalarFn::activation(Activation::Tanh),
        ScalarFn::derivative(Activation::Tanh, Surrogate::True),
        ScalarFn::derivative(Activation::Tanh, "sigmoid:4".parse().unwrap()),
        ScalarFn::derivative(Activation::Tanh, "atan:2".parse().unwrap()),
    ];
    let near = |v: f64, rho: f64| (v, rho * v, v);
    let covs = [
        (0.51, 0.3, 0.51),
        (0.31, 0.0, 0.4),
        (0.3, -0.29, 0.3),
        near(0.5, 1.0),
        near(0.5, 1.0 - 1e-7),
        near(0.31, 1.0 - 1e-12),
        (1.0, 0.99, 1.2),
        (2.0, 1.5, 3.0),
        (1e-4, 5e-5, 2e-4),
        (0.0, 0.0, 0.7),
        (0.7, 0.0, 0.0),
    ];
    let mut worst = WorstError::default();
    for (i, f) in fns.iter().enumerate() {
        for g in &fns[i..] {
            // the half disk where f(−u) g(−v) = f(u) g(v), and the whole disk always
            let symmetric = f.parity().is_some() && f.parity() == g.parity();
            for (&(l11, l12, l22), half) in covs
                .iter()
                .flat_map(|c| [(c, false), (c, true)])
                .filter(|&(_, half)| symmetric || !half)
            {
                let got = sgntk_ntk::expect_2d_smooth(
                    l11,
                    l12,
                    l22,
                    half,
                    |u| f.eval_in_place(u),
                    |v| g.eval_in_place(v),
                )
                .expect("converges");
                let want =
                    expect_2d_adaptive(l11, l12, l22, |u| f.eval(u), &[], |v| g.eval(v), &[]);
                // relative to the value, or to the Cauchy–Schwarz scale √(E f(u)² E g(v)²) where
                // the value vanishes (odd × even)
                let scale = (sgntk_ntk::expect_1d(l11, |u| f.eval(u).powi(2), &[])
                    * sgntk_ntk::expect_1d(l22, |v| g.eval(v).powi(2), &[]))
                .sqrt();
                let err = (got - want).abs() / want.abs().max(1e-3 * scale).max(1e-300);
                worst.record(
                    err,
                    1e-10,
                    format_args!(
                        "{f:?} × {g:?} at ({l11}, {l12}, {l22}), half disk {half}: {got} vs {want}"
                    ),
                );
            }
        }
    }
    worst.report("trapezoid vs adaptive");
    // beyond 512 nodes per dimension it gives up (the Auto path then uses the adaptive rule)
    let tanh = |z: &mut [f64]| z.iter_mut().for_each(|v| *v = v.tanh());
    assert!(sgntk_ntk::expect_2d_smooth(1e6, 0.0, 1e6, false, tanh, tanh).is_none());
}

/// The parities the half-disk trapezoid rule relies on: f(−z) = f(z) (even) or −f(z) (odd) for
/// every function that has one, at points from 1e-3 to 30, to 1e-13 relative or 1e-15 absolute
/// (all are O(1) at 0): the sigmoid surrogate 4 s(kz)(1 − s(kz)) rounds differently at ±z (3e-15
/// relative at z = ±3; at +30, 1 − s(30) cancels: 4e-16 absolute); the others are exact.
#[test]
fn scalar_function_parities_hold() {
    let mut fns = vec![
        ScalarFn::activation(Activation::Tanh),
        ScalarFn::derivative(Activation::Tanh, Surrogate::True),
        ScalarFn::activation(Activation::Erf { m: 2.0 }),
        ScalarFn::derivative(Activation::Erf { m: 2.0 }, Surrogate::True),
        ScalarFn::activation(Activation::Identity),
        ScalarFn::activation(Activation::Step),
    ];
    fns.extend(
        Surrogate::FAMILIES
            .iter()
            .map(|&g| ScalarFn::derivative(Activation::Tanh, g)),
    );
    let mut checked = 0;
    for f in &fns {
        let Some(even) = f.parity() else {
            continue;
        };
        checked += 1;
        for z in [1e-3, 0.1, 0.5, 0.99, 1.0, 1.7, 3.0, 30.0] {
            let (a, b) = (f.eval(-z), f.eval(z));
            let b = if even { b } else { -b };
            assert!(
                (a - b).abs() <= 1e-13 * b.abs() + 1e-15,
                "{f:?} at ±{z}: {a} {b}"
            );
        }
    }
    // step = ½ + ½ sign has no parity; every other one has
    assert_eq!(checked, fns.len() - 1);
}

/// Issue 30 (item 1): a kernel matrix, evaluated in blocks of pairs, equals the same entries
/// computed one pair at a time (blocks of one) bit for bit — closed forms in SIMD lanes (erf,
/// ReLU, sign with its singular diagonal) and quadrature (tanh). The columns are the rows in
/// another order, so that the matrix is not mirrored from its upper triangle (that is
/// `symmetric_kernels_mirror_the_upper_triangle` in analytic/matrix.rs).
#[test]
fn blocks_equal_single_pairs_bitwise() {
    let x = sgntk_model::data::circle_points(&[0.1, 0.7, -2.0, 0.1, 3.0]);
    let y = sgntk_model::data::circle_points(&[3.0, 0.1, -2.0, 0.7, 0.1]);
    let erf_prime = Surrogate::ErfPrime { a: 1.0 };
    for (act, kind) in [
        (Activation::Erf { m: 1.0 }, KernelKind::Ntk),
        (Activation::Relu, KernelKind::Ntk),
        (Activation::Sign, KernelKind::Ntk),
        (Activation::Sign, KernelKind::SgNtk),
        (Activation::Erf { m: 5.0 }, KernelKind::SgNtk),
        (Activation::Tanh, KernelKind::Nngp),
    ] {
        let spec = KernelSpec::paper(act, erf_prime);
        let k = kernel_matrix(&spec, kind, &x, &y).unwrap();
        for i in 0..x.nrows() {
            for j in 0..y.nrows() {
                let xi: Vec<f64> = x.row(i).iter().copied().collect();
                let xj: Vec<f64> = y.row(j).iter().copied().collect();
                let one = sgntk_ntk::kernel_pair(&spec, kind, &xi, &xj).unwrap();
                assert_eq!(
                    k[(i, j)].to_bits(),
                    one.to_bits(),
                    "{act} {kind:?} ({i}, {j})"
                );
            }
        }
    }
}

/// Issue 30 (item 5): the tanh NNGP and NTK (depth 3) through the Auto path (trapezoid rule)
/// equal those of the nested adaptive quadrature (Method::Adaptive) to 1e-10 relative.
#[test]
fn tanh_kernels_match_the_adaptive_method() {
    let x = points();
    let spec = KernelSpec::paper(Activation::Tanh, Surrogate::True);
    for kind in [KernelKind::Nngp, KernelKind::Ntk] {
        let auto = kernel_matrix(&spec, kind, &x, &x).unwrap();
        let adaptive = kernel_matrix(&spec.with_method(Method::Adaptive), kind, &x, &x).unwrap();
        let err = max_rel(&auto, &adaptive);
        assert!(err < 1e-10, "{kind:?}: {err:e}");
    }
}
