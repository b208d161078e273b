//! Convolutional NetSpecs at finite width: the burn forward against a host implementation written
//! from the formula (NHWC rows, XLA padding), hand-computed padding conventions, every backend,
//! and one-line errors for malformed shapes.

use nalgebra::DMatrix;
use sgntk_model::{
    matrix_to_tensor, Activation, BackendKind, FlatParamModel, Layer, NetSpec, Padding,
};

fn conv(channels: usize, filter: &[usize], padding: Padding) -> Layer {
    Layer::Conv {
        channels,
        filter: filter.to_vec(),
        padding,
    }
}

fn spec(input_shape: &[usize], layers: Vec<Layer>, sigma_w: f64, sigma_b: f64) -> NetSpec {
    NetSpec {
        input_shape: input_shape.to_vec(),
        layers,
        sigma_w,
        sigma_b,
        kappa: 1.0,
    }
}

/// A host tensor: spatial sizes and channels, values row-major (positions, then channels).
#[derive(Clone)]
struct Host {
    spatial: Vec<usize>,
    channels: usize,
    v: Vec<f64>,
}

/// The conv of the module docs written out with explicit loops (XLA padding: valid reads
/// inside only; same / circular start ⌊(f−1)/2⌋ before). `w[c'][c][q]` row-major in (c', c, q).
#[allow(clippy::too_many_arguments)]
fn host_conv(
    h: &Host,
    out_c: usize,
    filter: &[usize],
    padding: Padding,
    w: &[f64],
    b: &[f64],
    sw: f64,
    sb: f64,
) -> Host {
    let dims = h.spatial.len();
    let (before, out): (Vec<isize>, Vec<usize>) = (0..dims)
        .map(|a| {
            let (n, f) = (h.spatial[a], filter[a]);
            match padding {
                Padding::Valid => (0, n - f + 1),
                _ => (((f - 1) / 2) as isize, n),
            }
        })
        .unzip();
    let taps: usize = filter.iter().product();
    let scale = sw / ((h.channels * taps) as f64).sqrt();
    let positions: usize = out.iter().product();
    let mut v = vec![0.0; positions * out_c];
    // Positions and taps as (row, col) with a unit second axis for 1-D.
    let (out_h, out_w) = (out[0], if dims == 2 { out[1] } else { 1 });
    let (f_h, f_w) = (filter[0], if dims == 2 { filter[1] } else { 1 });
    let (n_h, n_w) = (h.spatial[0], if dims == 2 { h.spatial[1] } else { 1 });
    let (b_h, b_w) = (before[0], if dims == 2 { before[1] } else { 0 });
    for i in 0..out_h {
        for j in 0..out_w {
            for co in 0..out_c {
                let mut sum = 0.0;
                for qi in 0..f_h {
                    for qj in 0..f_w {
                        let (mut si, mut sj) = (
                            i as isize + qi as isize - b_h,
                            j as isize + qj as isize - b_w,
                        );
                        if padding == Padding::Circular {
                            si = si.rem_euclid(n_h as isize);
                            sj = sj.rem_euclid(n_w as isize);
                        } else if si < 0 || sj < 0 || si >= n_h as isize || sj >= n_w as isize {
                            continue;
                        }
                        let src = si as usize * n_w + sj as usize;
                        for c in 0..h.channels {
                            let wi = (co * h.channels + c) * taps + qi * f_w + qj;
                            sum += w[wi] * h.v[src * h.channels + c];
                        }
                    }
                }
                v[(i * out_w + j) * out_c + co] = scale * sum + sb * b[co];
            }
        }
    }
    Host {
        spatial: out,
        channels: out_c,
        v,
    }
}

/// The whole network on one input row, in f64, from the host parameters.
fn host_forward(spec: &NetSpec, params: &[Vec<f64>], x: &[f64]) -> f64 {
    let (channels, spatial) = spec.input_shape.split_last().unwrap();
    let mut h = Host {
        spatial: spatial.to_vec(),
        channels: *channels,
        v: x.to_vec(),
    };
    let mut p = params.iter();
    for layer in &spec.layers {
        match layer {
            Layer::Conv {
                channels,
                filter,
                padding,
            } => {
                let (w, b) = (p.next().unwrap(), p.next().unwrap());
                h = host_conv(
                    &h,
                    *channels,
                    filter,
                    *padding,
                    w,
                    b,
                    spec.sigma_w,
                    spec.sigma_b,
                );
            }
            Layer::Act(Activation::Tanh) => h.v.iter_mut().for_each(|v| *v = v.tanh()),
            Layer::Act(Activation::Relu) => h.v.iter_mut().for_each(|v| *v = v.max(0.0)),
            Layer::Flatten => {
                h = Host {
                    spatial: vec![],
                    channels: h.v.len(),
                    v: h.v,
                }
            }
            Layer::GlobalAveragePool => {
                let positions = h.v.len() / h.channels;
                let v = (0..h.channels)
                    .map(|c| (0..positions).map(|q| h.v[q * h.channels + c]).sum::<f64>())
                    .map(|s| s / positions as f64)
                    .collect();
                h = Host {
                    spatial: vec![],
                    channels: h.channels,
                    v,
                }
            }
            Layer::Dense { width } => {
                let (w, b) = (p.next().unwrap(), p.next().unwrap());
                let n = h.v.len();
                let v = (0..*width)
                    .map(|o| {
                        let dot: f64 = (0..n).map(|i| w[o * n + i] * h.v[i]).sum();
                        spec.sigma_w / (n as f64).sqrt() * dot + spec.sigma_b * b[o]
                    })
                    .collect();
                h = Host {
                    spatial: vec![],
                    channels: *width,
                    v,
                }
            }
            other => panic!("not in this test: {other:?}"),
        }
    }
    spec.kappa * h.v[0]
}

fn host_params(net: &impl FlatParamModel) -> Vec<Vec<f64>> {
    net.parameters()
        .into_iter()
        .map(|t| t.into_data().iter::<f64>().collect())
        .collect()
}

#[test]
fn the_conv_forward_is_the_formula() {
    // 2-D and 1-D networks with every padding, rectangular filters, both readouts: the burn
    // forward (f32, flex) equals the host loops of the formula in f64 to 1e-5 relative.
    let device = BackendKind::Flex.device().unwrap();
    let nets = [
        spec(
            &[4, 5, 2],
            vec![
                conv(3, &[3, 2], Padding::Same),
                Layer::Act(Activation::Tanh),
                conv(4, &[2, 3], Padding::Circular),
                Layer::Act(Activation::Relu),
                conv(2, &[2, 2], Padding::Valid),
                Layer::Flatten,
                Layer::Dense { width: 3 },
                Layer::Act(Activation::Tanh),
                Layer::Dense { width: 1 },
            ],
            1.3,
            0.4,
        ),
        spec(
            &[7, 2],
            vec![
                conv(3, &[4], Padding::Same),
                Layer::Act(Activation::Tanh),
                conv(3, &[3], Padding::Circular),
                Layer::Act(Activation::Tanh),
                conv(5, &[2], Padding::Valid),
                Layer::GlobalAveragePool,
                Layer::Dense { width: 1 },
            ],
            0.9,
            0.2,
        ),
    ];
    for spec in &nets {
        let n0 = spec.input_dim();
        let x = DMatrix::from_fn(3, n0, |i, j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
        let net = spec.init(3, 1, &device).unwrap();
        let got = net.predict(&x).unwrap();
        let params = host_params(&net);
        for i in 0..x.nrows() {
            let row: Vec<f64> = x.row(i).iter().copied().collect();
            let want = host_forward(spec, &params, &row);
            let err = (got[(i, 0)] - want).abs() / want.abs().max(1e-3);
            assert!(
                err < 1e-5,
                "{:?}: {} vs {want}",
                spec.input_shape,
                got[(i, 0)]
            );
        }
    }
}

#[test]
fn same_padding_puts_the_extra_zero_after() {
    // 1-D input [1, 2, 3, 4], one channel, filter W = [1, 10], σw/√(C·F) = 1, σb = 0:
    // same → [1·1 + 2·10, 2 + 30, 3 + 40, 4 + 0] (XLA: the extra zero after), circular wraps
    // the last tap to x[0] (4 + 10), valid drops the last output. Each output position p is
    // read through flatten → Dense with the one-hot row e_p: f = σw/√n · h'[p].
    let device = BackendKind::Flex.device().unwrap();
    for (padding, want) in [
        (Padding::Same, vec![21.0, 32.0, 43.0, 4.0]),
        (Padding::Circular, vec![21.0, 32.0, 43.0, 14.0]),
        (Padding::Valid, vec![21.0, 32.0, 43.0]),
    ] {
        let sw = 2f64.sqrt(); // C·F = 2: the conv scale is 1
        let spec = spec(
            &[4, 1],
            vec![
                conv(1, &[2], padding),
                Layer::Flatten,
                Layer::Dense { width: 1 },
            ],
            sw,
            0.0,
        );
        let x = DMatrix::from_row_slice(1, 4, &[1.0, 2.0, 3.0, 4.0]);
        let mut net = spec.init(0, 0, &device).unwrap();
        let n = want.len();
        for (p, &expected) in want.iter().enumerate() {
            let values: Vec<Vec<f64>> = vec![
                vec![1.0, 10.0],
                vec![0.0],
                (0..n).map(|i| if i == p { 1.0 } else { 0.0 }).collect(),
                vec![0.0],
            ];
            let params = values
                .iter()
                .map(|v| matrix_to_tensor(&DMatrix::from_row_slice(1, v.len(), v), &device))
                .map(|t| {
                    let n = t.dims()[1];
                    t.reshape([n])
                })
                .collect();
            net.set_parameters(params);
            let f = net.predict(&x).unwrap()[(0, 0)];
            let readout = sw / (n as f64).sqrt();
            assert!(
                (f - readout * expected).abs() < 1e-5 * expected.abs().max(1.0),
                "{padding} position {p}: {f} vs {}",
                readout * expected
            );
        }
    }
}

#[test]
fn conv_networks_agree_across_cpu_backends() {
    // The same seed on flex and ndarray: same draws, same outputs (f32, 1e-5).
    let spec = spec(
        &[4, 4, 1],
        vec![
            conv(6, &[3, 3], Padding::Same),
            Layer::Act(Activation::Sign),
            conv(6, &[2, 2], Padding::Circular),
            Layer::Act(Activation::Sign),
            Layer::GlobalAveragePool,
            Layer::Dense { width: 1 },
        ],
        1.0,
        0.1,
    );
    let x = DMatrix::from_fn(3, 16, |i, j| ((i * 5 + j) % 7) as f64 / 3.0 - 1.0);
    let out = |kind: BackendKind| {
        let device = kind.device().unwrap();
        spec.init(8, 2, &device).unwrap().predict(&x).unwrap()
    };
    let (a, b) = (out(BackendKind::Flex), out(BackendKind::Ndarray));
    assert!((a - b).abs().max() < 1e-5);
}

#[test]
fn malformed_conv_specs_are_one_line_errors() {
    let ok = spec(
        &[5, 5, 1],
        vec![
            conv(4, &[3, 3], Padding::Valid),
            Layer::Act(Activation::Sign),
            Layer::Flatten,
            Layer::Dense { width: 1 },
        ],
        1.0,
        0.1,
    );
    ok.validate().unwrap();
    assert_eq!(ok.input_dim(), 25);
    let with = |i: usize, layer: Layer| {
        let mut s = ok.clone();
        s.layers[i] = layer;
        s
    };
    let cases = [
        (
            with(2, Layer::Act(Activation::Sign)),
            "a Dense layer on the unflattened shape [3, 3, 4]",
        ),
        (
            with(0, conv(4, &[6, 3], Padding::Valid)),
            "larger than its input [5, 5, 1] with valid",
        ),
        (
            with(0, conv(4, &[6, 6], Padding::Circular)),
            "with circular padding",
        ),
        (
            with(0, conv(0, &[3, 3], Padding::Same)),
            "a conv layer with 0 channels",
        ),
        (
            with(0, conv(4, &[3], Padding::Same)),
            "a conv filter [3] on the 2-D shape",
        ),
        (with(0, conv(4, &[0, 3], Padding::Same)), "a zero size"),
        (
            NetSpec {
                input_shape: vec![4, 0, 1],
                ..ok.clone()
            },
            "input shape [4, 0, 1]",
        ),
        (
            NetSpec {
                input_shape: vec![25],
                ..ok.clone()
            },
            "a conv layer on the flat shape [25]",
        ),
        (
            {
                let mut s = ok.clone();
                s.layers.insert(3, Layer::GlobalAveragePool);
                s
            },
            "global-average-pool on the flat shape",
        ),
        (
            {
                let mut s = ok.clone();
                s.layers
                    .insert(1, Layer::Residual(vec![conv(4, &[2, 2], Padding::Valid)]));
                s
            },
            "a residual branch from shape [3, 3, 4] to [2, 2, 4]",
        ),
    ];
    let device = BackendKind::Flex.device().unwrap();
    for (bad, says) in cases {
        let e = bad.init(0, 0, &device).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A same-padded filter may be larger than the input (zeros around it).
    with(0, conv(4, &[7, 7], Padding::Same))
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_file_gives_input_dim_or_input_shape() {
    // JSON round trip (TOML is tested by the CLI): a flat spec writes input_dim, an image spec
    // input_shape; both or neither is an error naming them.
    let image: NetSpec = serde_json::from_str(
        r#"{"input_shape": [8, 8, 1], "sigma_w": 1.0, "sigma_b": 0.1, "kappa": 1.0,
            "layers": [{"conv": {"channels": 4, "filter": [3, 3], "padding": "same"}},
                       {"act": "sign"}, "global-average-pool", {"dense": {"width": 1}}]}"#,
    )
    .unwrap();
    assert_eq!(image.layers[2], Layer::GlobalAveragePool);
    image.validate().unwrap();
    let text = serde_json::to_string(&image).unwrap();
    assert!(text.contains("\"input_shape\":[8,8,1]") && text.contains("\"global-average-pool\""));
    assert_eq!(serde_json::from_str::<NetSpec>(&text).unwrap(), image);
    let flat = NetSpec {
        input_shape: vec![3],
        layers: vec![Layer::Dense { width: 1 }],
        ..image.clone()
    };
    let text = serde_json::to_string(&flat).unwrap();
    assert!(text.contains("\"input_dim\":3"), "{text}");
    let both = text.replace("\"input_dim\":3", "\"input_dim\":3,\"input_shape\":[3]");
    let e = serde_json::from_str::<NetSpec>(&both)
        .unwrap_err()
        .to_string();
    assert!(e.contains("input_dim or input_shape, not both"), "{e}");
    let neither = text.replace("\"input_dim\":3,", "");
    let e = serde_json::from_str::<NetSpec>(&neither)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing input_dim"), "{e}");
    // scales left out take the command line's defaults σw = 1, σb = 0.1, κ = 1
    let bare: NetSpec =
        serde_json::from_str(r#"{"input_dim": 2, "layers": [{"dense": {"width": 1}}]}"#).unwrap();
    assert_eq!((bare.sigma_w, bare.sigma_b, bare.kappa), (1.0, 0.1, 1.0));
    let some: NetSpec = serde_json::from_str(
        r#"{"input_dim": 2, "kappa": 0.5, "sigma_b": 0.0, "layers": [{"dense": {"width": 1}}]}"#,
    )
    .unwrap();
    assert_eq!((some.sigma_w, some.sigma_b, some.kappa), (1.0, 0.0, 0.5));
}

/// A CNN ensemble of 3 networks trained for 5 GD steps as one batched computation (grouped
/// convolutions with 3 groups) equals the same networks trained one at a time, on both CPU
/// backends in f32: outputs to 1e-4 relative (f32 rounding of sums in another order; the f64
/// comparison to 1e-10 is `tests/spec_ensemble_f64.rs`).
#[test]
fn batched_cnn_ensemble_equals_one_at_a_time_on_both_cpu_backends() {
    let spec = spec(
        &[4, 4, 2],
        vec![
            conv(3, &[3, 3], Padding::Same),
            Layer::Act(Activation::Tanh),
            conv(2, &[2, 2], Padding::Circular),
            Layer::Act(Activation::Tanh),
            Layer::GlobalAveragePool,
            Layer::Dense { width: 2 },
        ],
        1.2,
        0.1,
    );
    let x = DMatrix::from_fn(4, 32, |i, j| ((i * 5 + j * 3) % 11) as f64 / 5.0 - 1.0);
    let y = DMatrix::from_fn(4, 2, |i, j| ((i + 3 * j) % 5) as f64 / 3.0 - 0.6);
    let set = sgntk_model::TrainSet { x: x.clone(), y };
    let config = sgntk_model::TrainConfig::new(sgntk_model::LearningRule::Gd, 0.3, 5);
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        let device = backend.device().unwrap();
        let (nets, report) =
            sgntk_model::train_flat_ensemble(&spec, 2, 1..4, &set, &config, &device, None).unwrap();
        for (j, k) in (1..4).enumerate() {
            let mut one = spec.init(2, k, &device).unwrap();
            let alone =
                sgntk_model::train_flat(&mut one, &set, &config, &[], |_, _| Ok(())).unwrap();
            let (a, b) = (nets[j].predict(&x).unwrap(), one.predict(&x).unwrap());
            let err = (a - &b).amax() / b.amax();
            assert!(
                err < 1e-4,
                "{backend:?} network {k}: outputs off by {err:e}"
            );
            let loss = (report.member_loss[j].1 - alone.loss[5]).abs() / alone.loss[5];
            assert!(loss < 1e-4, "{backend:?} network {k}: loss off by {loss:e}");
        }
    }
}
