//! The m → ∞ limits (Sec. 2.3, Cor. D.3) and the input checks.

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Surrogate};
use sgntk_ntk::{kernel_matrix, kernel_pair, KernelError, KernelKind, KernelSpec, Method};

fn points() -> DMatrix<f64> {
    DMatrix::from_row_slice(5, 2, &[0.5, 0.0, 0.0, 2.0, 1.2, -0.7, -0.3, 0.1, 1.0, 1.0])
}

#[test]
fn erf_m_at_large_m_approaches_the_sign_limits_off_the_diagonal() {
    let x = points();
    let g = Surrogate::ErfPrime { a: 1.0 };
    let sign = KernelSpec::paper(Activation::Sign, g);
    let erf = KernelSpec::paper(Activation::Erf { m: 1e4 }, g);
    let mut worst: f64 = 0.0;
    for kind in [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk] {
        let ks = kernel_matrix(&sign, kind, &x, &x).unwrap();
        let km = kernel_matrix(&erf, kind, &x, &x).unwrap();
        for i in 0..5 {
            for j in 0..5 {
                if i == j && kind == KernelKind::Ntk {
                    assert_eq!(ks[(i, j)], f64::INFINITY);
                    assert!(km[(i, j)].is_finite() && km[(i, j)] > 1e6);
                    continue;
                }
                let rel = ((km[(i, j)] - ks[(i, j)]) / ks[(i, j)]).abs();
                assert!(
                    rel < 1e-3,
                    "{kind:?} ({i},{j}): {} vs {}",
                    km[(i, j)],
                    ks[(i, j)]
                );
                worst = worst.max(rel);
            }
        }
    }
    println!("erf m = 1e4 vs sign limit: max rel diff {worst:.2e}");
}

#[test]
fn ntk_diagonal_grows_like_m_to_the_depth_minus_one() {
    // Cor. D.3: Θ_m(x, x) ~ C m^(L−1); least-squares slope of log Θ vs log m over m ∈ [1e2, 1e4]
    let ms: Vec<f64> = (0..=8).map(|k| 10f64.powf(2.0 + 0.25 * k as f64)).collect();
    for depth in [2usize, 3, 4] {
        for x in [[0.6, 0.8], [0.0, 2.0]] {
            let logs: Vec<(f64, f64)> = ms
                .iter()
                .map(|&m| {
                    let spec =
                        KernelSpec::paper(Activation::Erf { m }, Surrogate::True).with_depth(depth);
                    (
                        m.ln(),
                        kernel_pair(&spec, KernelKind::Ntk, &x, &x).unwrap().ln(),
                    )
                })
                .collect();
            let n = logs.len() as f64;
            let (mx, my) = logs
                .iter()
                .fold((0.0, 0.0), |(a, b), (p, q)| (a + p / n, b + q / n));
            let sxy: f64 = logs.iter().map(|(p, q)| (p - mx) * (q - my)).sum();
            let sxx: f64 = logs.iter().map(|(p, _)| (p - mx) * (p - mx)).sum();
            let slope = sxy / sxx;
            println!("depth {depth}, x {x:?}: fitted exponent {slope:.4}");
            assert!(
                (slope - (depth as f64 - 1.0)).abs() < 0.02,
                "depth {depth}: slope {slope}"
            );
        }
    }
}

#[test]
fn sign_ntk_never_produces_nan() {
    // σb = 0 and orthogonal inputs make Σ^1(x, x') = 0, i.e. I^1 = 0 next to +∞ diagonals
    let mut spec = KernelSpec::paper(Activation::Sign, Surrogate::True);
    spec.sigma_b = 0.0;
    let x = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    for kind in [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk] {
        let k = kernel_matrix(&spec, kind, &x, &x).unwrap();
        assert!(k.iter().all(|v| !v.is_nan()), "{kind:?}: {k}");
    }
    let k = kernel_matrix(&spec, KernelKind::Ntk, &x, &x).unwrap();
    // identical rows 0 and 2: singular entries at (0,0), (0,2), (2,0), (2,2), (1,1)
    for (i, j) in [(0, 0), (0, 2), (2, 0), (2, 2), (1, 1)] {
        assert_eq!(k[(i, j)], f64::INFINITY);
    }
    assert!(k[(0, 1)].is_finite());
    // step = (1 + sign)/2: NNGP = ¼ (1 + NNGP_sign) layer by layer is not linear, but the first
    // hidden layer is: Σ²_step = σw² ¼ (1 + E[sign sign]) + σb²
    let sign = KernelSpec::paper(Activation::Sign, Surrogate::True).with_depth(2);
    let step = KernelSpec::paper(Activation::Step, Surrogate::True).with_depth(2);
    let y = points();
    let ks = kernel_matrix(&sign, KernelKind::Nngp, &y, &y).unwrap();
    let kt = kernel_matrix(&step, KernelKind::Nngp, &y, &y).unwrap();
    let want = ks.map(|v| 0.25 * (1.0 + (v - 0.01)) + 0.01);
    assert!((kt - want).abs().max() < 1e-15);
}

/// κ scales the network function, g = κ f (docs/MATH.md §1/§5): every kernel becomes κ² times the κ = 1
/// kernel, for the NNGP, the NTK and the SG-NTK alike, at every pair of points.
#[test]
fn kappa_scales_every_kernel_by_kappa_squared() {
    let x = points();
    let g = Surrogate::ErfPrime { a: 1.0 };
    for act in [Activation::Erf { m: 2.0 }, Activation::Sign] {
        let base = KernelSpec::paper(act, g);
        let scaled = base.with_kappa(0.2);
        for kind in [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk] {
            if act == Activation::Sign && kind == KernelKind::Ntk {
                continue; // singular diagonal (+∞), checked elsewhere
            }
            let k1 = kernel_matrix(&base, kind, &x, &x).unwrap();
            let k2 = kernel_matrix(&scaled, kind, &x, &x).unwrap();
            let rel = (&k2 - &k1 * 0.04).abs().max() / k1.abs().max();
            assert!(rel < 1e-12, "{act} {kind:?}: relative {rel:e}");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let spec = KernelSpec::paper(Activation::Sign, Surrogate::ErfPrime { a: 1.0 });
    let a = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let b = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 0.0]);
    assert_eq!(
        kernel_matrix(&spec, KernelKind::Ntk, &a, &b),
        Err(KernelError::DimensionMismatch(2, 3))
    );
    let nan = DMatrix::from_row_slice(1, 2, &[f64::NAN, 0.0]);
    let e = kernel_matrix(&spec, KernelKind::Ntk, &a, &nan).unwrap_err();
    assert!(
        matches!(e, KernelError::NonFinite { what: "x2", .. }),
        "{e}"
    );
    let e = kernel_matrix(&spec.with_depth(0), KernelKind::Ntk, &a, &a).unwrap_err();
    assert_eq!(e, KernelError::ZeroDepth);
    let e = kernel_matrix(&spec.with_kappa(-1.0), KernelKind::Ntk, &a, &a).unwrap_err();
    assert!(e.to_string().contains("kappa"), "{e}");
    let e = kernel_matrix(
        &spec.with_method(Method::Quadrature { degree: 32 }),
        KernelKind::SgNtk,
        &a,
        &a,
    )
    .unwrap_err();
    assert!(e.to_string().contains("Dirac"), "{e}");
    let empty = DMatrix::<f64>::zeros(1, 0);
    assert_eq!(
        kernel_matrix(&spec, KernelKind::Nngp, &empty, &empty),
        Err(KernelError::EmptyInput)
    );
    // zero rows is fine: an empty matrix
    let none = DMatrix::<f64>::zeros(0, 2);
    assert_eq!(
        kernel_matrix(&spec, KernelKind::Ntk, &none, &a)
            .unwrap()
            .shape(),
        (0, 1)
    );
}
