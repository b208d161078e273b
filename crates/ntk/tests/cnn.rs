//! Analytic kernels of convolutional networks (conv, flatten, global average pooling) against
//! independent values: neural-tangents' NNGP/NTK (tests/data/nt_conv.json), exact reductions to
//! the MLP, and Monte Carlo of wide finite CNNs.

mod common;
use common::assert_covariance_within_4_se;
use serde::Deserialize;
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, BackendKind, Layer, NetSpec, Padding, Surrogate};
use sgntk_ntk::{
    kernel_matrix, network_kernel_matrix, spec_network, KernelKind, Kernels, Method, Pairs,
};

/// One network of `tests/data/nt_conv.json` (written by `bench/nt_conv_reference.py`).
#[derive(Deserialize)]
struct Case {
    name: String,
    input_shape: Vec<usize>,
    layers: Vec<Layer>,
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    nngp: Vec<Vec<f64>>,
    ntk: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Reference {
    sigma_w: f64,
    sigma_b: f64,
    cases: Vec<Case>,
}

fn matrix(rows: &[Vec<f64>]) -> DMatrix<f64> {
    DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

fn kernels(spec: &NetSpec, surrogate: Surrogate) -> Kernels<'_> {
    Kernels::Spec {
        spec,
        surrogate,
        method: Method::Auto,
    }
}

/// max_ij |a − b| / |b|.
fn max_rel_entry(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(p, q)| (p - q).abs() / q.abs())
        .fold(0.0, f64::max)
}

#[test]
fn conv_kernels_equal_neural_tangents() {
    // NNGP and NTK of erf and ReLU CNNs (1-D and 2-D; same / valid / circular padding;
    // rectangular filters; flatten and global-average-pool readouts), 1e-8 relative per entry.
    // Networks without pooling are also folded over all position pairs: the same values.
    let text = include_str!("data/nt_conv.json");
    let reference: Reference = serde_json::from_str(text).unwrap();
    assert_eq!(reference.cases.len(), 9);
    for case in &reference.cases {
        let spec = NetSpec {
            input_shape: case.input_shape.clone(),
            layers: case.layers.clone(),
            sigma_w: reference.sigma_w,
            sigma_b: reference.sigma_b,
            kappa: 1.0,
        };
        spec.validate().unwrap();
        let (x, y) = (matrix(&case.x), matrix(&case.y));
        for (kind, want) in [(KernelKind::Nngp, &case.nngp), (KernelKind::Ntk, &case.ntk)] {
            let want = matrix(want);
            let net = spec_network(&spec, kind, Surrogate::True, Method::Auto).unwrap();
            let pooled = case.layers.contains(&Layer::GlobalAveragePool);
            assert_eq!(net.pairs(), if pooled { Pairs::All } else { Pairs::Same });
            let got = network_kernel_matrix(&net, kind, &x, &y).unwrap();
            let err = max_rel_entry(&got, &want);
            assert!(err < 1e-8, "{} {kind:?}: {err:e}\n{got}\n{want}", case.name);
            if !pooled {
                let all = net.with_pairs(Pairs::All).unwrap();
                let got_all = network_kernel_matrix(&all, kind, &x, &y).unwrap();
                let err = max_rel_entry(&got_all, &want);
                assert!(err < 1e-8, "{} {kind:?} all pairs: {err:e}", case.name);
            }
        }
    }
}

/// A sign network (SG-NTK with erf') and an erf network, as layer lists around `front`.
fn layer_lists(front: Vec<Layer>, readout: Layer) -> Vec<Layer> {
    let mut layers = front;
    layers.extend([
        Layer::Act(Activation::Sign),
        readout,
        Layer::Dense { width: 5 },
        Layer::Act(Activation::Erf { m: 2.0 }),
        Layer::Dense { width: 1 },
    ]);
    layers
}

fn spec(input_shape: Vec<usize>, layers: Vec<Layer>) -> NetSpec {
    NetSpec {
        input_shape,
        layers,
        sigma_w: 1.2,
        sigma_b: 0.3,
        kappa: 0.7,
    }
}

fn conv(channels: usize, filter: &[usize], padding: Padding) -> Layer {
    Layer::Conv {
        channels,
        filter: filter.to_vec(),
        padding,
    }
}

/// Kernels of every kind (NNGP, NTK, SG-NTK with the surrogate erf') of `spec` on `x`.
fn all_kinds(spec: &NetSpec, x: &DMatrix<f64>, y: &DMatrix<f64>) -> Vec<DMatrix<f64>> {
    let g: Surrogate = "erf-prime:1".parse().unwrap();
    [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk]
        .map(|kind| kernel_matrix(kernels(spec, g), kind, x, y).unwrap())
        .to_vec()
}

fn assert_close(a: &[DMatrix<f64>], b: &[DMatrix<f64>], tol: f64, what: &str) {
    for (k, (p, q)) in a.iter().zip(b).enumerate() {
        // The sign NTK is +∞ on the diagonal: equal infinities, relative error elsewhere.
        for (u, v) in p.iter().zip(q.iter()) {
            assert!(
                u == v || (u - v).abs() <= tol * v.abs(),
                "{what}, kind {k}: {u} vs {v}"
            );
        }
    }
}

#[test]
fn a_one_by_one_conv_on_one_position_is_the_dense_layer() {
    // Input [1, 1, 3] (2-D) or [1, 3] (1-D) with 1 × 1 filters: every conv is a Dense layer on
    // the 3 channels and flatten / global-average-pool of one position is the identity, so the
    // kernels equal the MLP's (1e-14), for every readout and padding, residual blocks included.
    let x = DMatrix::from_row_slice(3, 3, &[0.3, -1.2, 0.8, 1.1, 0.4, -0.5, -0.7, 0.9, 0.2]);
    let y = DMatrix::from_row_slice(2, 3, &[0.5, 0.1, -0.9, -0.2, 1.3, 0.6]);
    let mlp = spec(
        vec![3],
        layer_lists(
            vec![
                Layer::Dense { width: 4 },
                Layer::Act(Activation::Erf { m: 1.0 }),
                Layer::Dense { width: 4 },
                Layer::Residual(vec![
                    Layer::Act(Activation::Erf { m: 2.0 }),
                    Layer::Dense { width: 4 },
                ]),
            ],
            Layer::Flatten,
        )
        .into_iter()
        .filter(|l| *l != Layer::Flatten)
        .collect(),
    );
    let want = all_kinds(&mlp, &x, &y);
    for readout in [Layer::Flatten, Layer::GlobalAveragePool] {
        for padding in [Padding::Same, Padding::Valid, Padding::Circular] {
            for (shape, filter) in [(vec![1, 1, 3], vec![1, 1]), (vec![1, 3], vec![1])] {
                let layers = layer_lists(
                    vec![
                        conv(4, &filter, padding),
                        Layer::Act(Activation::Erf { m: 1.0 }),
                        conv(4, &filter, padding),
                        Layer::Residual(vec![
                            Layer::Act(Activation::Erf { m: 2.0 }),
                            conv(4, &filter, padding),
                        ]),
                    ],
                    readout.clone(),
                );
                let got = all_kinds(&spec(shape.clone(), layers), &x, &y);
                assert_close(
                    &got,
                    &want,
                    1e-14,
                    &format!("{shape:?} {padding} {readout:?}"),
                );
            }
        }
    }
}

#[test]
fn circular_pooling_of_a_constant_image_is_the_mlp() {
    // On a constant image every position sees the same patch under circular padding, so every
    // position pair carries the MLP's covariance and global average pooling returns it: a CNN of
    // circular convs (and a residual block of them) → GAP equals the MLP of the same depth on the
    // pixel vector (1e-12).
    let pixels = [[0.4, -1.0], [1.2, 0.3], [-0.6, 0.9]];
    let image = |v: &[f64; 2]| -> Vec<f64> { (0..4 * 3).flat_map(|_| *v).collect() };
    let x = DMatrix::from_fn(3, 24, |i, j| image(&pixels[i])[j]);
    let v = DMatrix::from_fn(3, 2, |i, j| pixels[i][j]);
    let cnn = spec(
        vec![4, 3, 2],
        layer_lists(
            vec![
                conv(6, &[3, 2], Padding::Circular),
                Layer::Act(Activation::Erf { m: 1.0 }),
                conv(6, &[2, 3], Padding::Circular),
                Layer::Residual(vec![
                    Layer::Act(Activation::Erf { m: 2.0 }),
                    conv(6, &[3, 3], Padding::Circular),
                ]),
            ],
            Layer::GlobalAveragePool,
        ),
    );
    let mut mlp_layers = layer_lists(
        vec![
            Layer::Dense { width: 6 },
            Layer::Act(Activation::Erf { m: 1.0 }),
            Layer::Dense { width: 6 },
            Layer::Residual(vec![
                Layer::Act(Activation::Erf { m: 2.0 }),
                Layer::Dense { width: 6 },
            ]),
        ],
        Layer::Flatten,
    );
    mlp_layers.retain(|l| *l != Layer::Flatten);
    let mlp = spec(vec![2], mlp_layers);
    assert_close(
        &all_kinds(&cnn, &x, &x),
        &all_kinds(&mlp, &v, &v),
        1e-12,
        "circular GAP",
    );
    // Zero padding sees the border: not the MLP (the reduction is specific to circular).
    let mut same = cnn.clone();
    for l in &mut same.layers {
        if let Layer::Conv { padding, .. } = l {
            *padding = Padding::Same;
        }
    }
    let a = &all_kinds(&same, &x, &x)[0];
    let b = &all_kinds(&mlp, &v, &v)[0];
    assert!(max_rel_entry(a, b) > 1e-3);
}

#[test]
fn conv_nngp_matches_monte_carlo_of_wide_cnns() {
    // f_0 ~ GP(0, κ² Σ) for a 2-D CNN (same-padded 3 × 2 conv → erf → valid 2 × 2 conv → sign →
    // global average pool → Dense{1}) and a 1-D one (circular conv → tanh → flatten → Dense{1}):
    // the sample covariance of 1500 networks with 48 channels at three 3 × 4 × 1 (or 6 × 1)
    // inputs lies within 4 standard errors of the analytic NNGP (se ≈ √((Σ11Σ22 + Σ12²)/N)).
    let device = BackendKind::Flex.device().unwrap();
    let c = 48;
    let specs = [
        spec(
            vec![3, 4, 1],
            vec![
                conv(c, &[3, 2], Padding::Same),
                Layer::Act(Activation::Erf { m: 1.0 }),
                conv(c, &[2, 2], Padding::Valid),
                Layer::Act(Activation::Sign),
                Layer::GlobalAveragePool,
                Layer::Dense { width: 1 },
            ],
        ),
        spec(
            vec![6, 1],
            vec![
                conv(c, &[3], Padding::Circular),
                Layer::Act(Activation::Tanh),
                Layer::Flatten,
                Layer::Dense { width: 1 },
            ],
        ),
    ];
    let values = [
        0.3, -1.1, 0.8, 0.2, 1.0, -0.4, 0.6, -0.9, 0.1, 0.7, -0.3, 1.2, //
        -0.5, 0.4, 1.1, -0.8, 0.2, 0.9, -1.2, 0.3, 0.6, -0.1, 0.5, -0.7, //
        0.9, 0.8, -0.2, 0.4, -1.0, 0.1, 0.3, 1.1, -0.6, 0.2, 0.7, 0.5,
    ];
    for spec in &specs {
        let n0 = spec.input_dim();
        let x = DMatrix::from_fn(3, n0, |i, j| values[i * 12 + j]);
        let sigma =
            kernel_matrix(kernels(spec, Surrogate::True), KernelKind::Nngp, &x, &x).unwrap();
        let outputs: Vec<DMatrix<f64>> = (0..1500)
            .map(|k| spec.init(5, k, &device).unwrap().predict(&x).unwrap())
            .collect();
        assert_covariance_within_4_se(&outputs, &sigma);
    }
}
