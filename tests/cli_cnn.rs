//! Convolutional `--net` files on the command line: `kernel`, `predict` and `train` read image
//! CSVs (one row per image, row-major (h, w, c)) and give what the library gives; malformed
//! shapes are one-line errors with status 2.

mod common;
use common::*;

use sgntk::experiments::io::parse_csv;
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{
    predict_flat, train_flat, BackendKind, LearningRule, NetSpec, Surrogate, TrainConfig, TrainSet,
};
use sgntk::ntk::empirical::ensemble_mean;
use sgntk::ntk::{kernel_matrix, KernelKind, Kernels, Method};

/// A small sign CNN on 4 × 4 grey images (the issue's example, scaled down).
const CNN: &str = r#"
input_shape = [4, 4, 1]
sigma_w = 1.0
sigma_b = 0.1
kappa = 1.0
layers = [
  { conv = { channels = 6, filter = [3, 3], padding = "same" } },
  { act = "sign" },
  { conv = { channels = 6, filter = [2, 2], padding = "circular" } },
  { act = "sign" },
  "global-average-pool",
  { dense = { width = 1 } },
]
"#;

/// `n` seeded 4 × 4 images, one per row.
fn images(n: usize, shift: usize) -> DMatrix<f64> {
    DMatrix::from_fn(n, 16, |i, j| {
        (((i + shift) * 7 + j * 5) % 13) as f64 / 6.0 - 1.0
    })
}

fn csv_of(m: &DMatrix<f64>) -> String {
    let mut s = String::new();
    for r in 0..m.nrows() {
        let row: Vec<String> = (0..m.ncols()).map(|c| format!("{:?}", m[(r, c)])).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn stdout_matrix(o: &std::process::Output) -> DMatrix<f64> {
    assert_ok(o);
    parse_csv(&String::from_utf8_lossy(&o.stdout), "stdout").unwrap()
}

#[test]
fn cnn_files_run_in_kernel_predict_and_train() {
    let dir = scratch("cnn-files");
    let spec: NetSpec = toml::from_str(CNN).unwrap();
    let net = write(&dir, "cnn.toml", CNN);
    let x = images(4, 0);
    let xf = write(&dir, "x.csv", &csv_of(&x));
    let g: Surrogate = "erf-prime:1".parse().unwrap();

    // The analytic SG-NTK: the library's, in full precision.
    let k = stdout_matrix(&sgntk_line(
        "kernel --kind sgntk --net {} --x {}",
        &[&net, &xf],
    ));
    let kernels = Kernels::Spec {
        spec: &spec,
        surrogate: g,
        method: Method::Auto,
    };
    assert_eq!(
        k,
        kernel_matrix(kernels, KernelKind::SgNtk, &x, &x).unwrap()
    );

    // The empirical NNGP: the mean of f fᵀ over the networks 0 and 1 of NetSpec::init; the
    // empirical SG-NTK of a sign network does not exist (its true derivative is 0 a.e.).
    let e = stdout_matrix(&sgntk_line(
        "kernel --kind nngp --empirical --nets 2 --seed 3 --net {} --x {}",
        &[&net, &xf],
    ));
    let device = BackendKind::Flex.device().unwrap();
    let each: Vec<DMatrix<f64>> = (0..2)
        .map(|k| {
            let f = predict_flat(&spec.init(3, k, &device).unwrap(), &x).unwrap();
            &f * f.transpose()
        })
        .collect();
    assert_eq!(e, ensemble_mean(&each));
    assert_fails(
        &sgntk_line(
            "kernel --kind sgntk --empirical --nets 1 --net {} --x {}",
            &[&net, &xf],
        ),
        &["true derivative", "sign"],
    );

    // predict: the GP mean and std at finite, non-negative values.
    let train = DMatrix::from_fn(
        4,
        17,
        |i, j| if j < 16 { x[(i, j)] } else { i as f64 - 1.5 },
    );
    let tf = write(&dir, "train.csv", &csv_of(&train));
    let test = images(3, 5);
    let testf = write(&dir, "test.csv", &csv_of(&test));
    let p = stdout_matrix(&sgntk_line(
        "predict --kind sgntk --net {} --train {} --test {} --time 100 --discrete",
        &[&net, &tf, &testf],
    ));
    assert_eq!(p.shape(), (3, 2));
    assert!(p.iter().all(|v| v.is_finite()) && p.column(1).iter().all(|s| *s >= 0.0));

    // train: the networks of NetSpec::init trained by SGL with train_flat, output for output.
    let out = dir.join("run");
    assert_ok(&sgntk_line(
        "train --net {} --mode sgl --nets 2 --steps 20 --lr 0.5 --seed 1 --train {} --test {} --out {}",
        &[&net, &tf, &testf, &out],
    ));
    let outputs = parse_csv(
        &std::fs::read_to_string(out.join("outputs.csv")).unwrap(),
        "outputs",
    )
    .unwrap();
    let config = TrainConfig::new(LearningRule::Sgl(g), 0.5, 20);
    let data = TrainSet {
        x: x.clone(),
        y: train.columns(16, 1).into_owned(),
    };
    for k in 0..2 {
        let mut n = spec.init(1, k, &device).unwrap();
        let report = train_flat(&mut n, &data, &config, &[], |_, _| Ok(())).unwrap();
        assert!(report.loss[20] < report.loss[0], "{:?}", report.loss);
        assert_eq!(
            outputs.column(k),
            predict_flat(&n, &test).unwrap().column(0)
        );
    }
}

#[test]
fn malformed_cnn_inputs_are_one_line_errors() {
    let dir = scratch("cnn-errors");
    let net = write(&dir, "cnn.toml", CNN);
    let xf = write(&dir, "x.csv", &csv_of(&images(3, 0)));
    let run = |file: &str, x: &str| sgntk_line("kernel --kind nngp --net {} --x {}", &[&file, &x]);

    // A CSV row that is not one image.
    let short = write(
        &dir,
        "short.csv",
        &csv_of(&DMatrix::from_element(2, 15, 0.5)),
    );
    assert_fails(
        &run(&net, &short),
        &["16 columns", "[4, 4, 1]", "got 15 columns"],
    );
    let train = write(
        &dir,
        "train.csv",
        &csv_of(&DMatrix::from_element(3, 16, 0.5)),
    );
    assert_fails(
        &sgntk_line(
            "train --net {} --mode sgl --nets 1 --steps 2 --train {} --test {} --out {}",
            &[&net, &train, &xf, &dir.join("o")],
        ),
        &["train.csv", "16 columns, expected 16 (inputs) + 1 (target)"],
    );

    // Shapes that do not fit, each named.
    for (name, from, to, says) in [
        (
            "dense",
            "\"global-average-pool\",",
            "",
            "Dense layer on the unflattened shape [4, 4, 6]",
        ),
        (
            "valid",
            "filter = [2, 2], padding = \"circular\"",
            "filter = [5, 2], padding = \"valid\"",
            "larger than its input [4, 4, 6] with valid padding",
        ),
        (
            "zero",
            "channels = 6, filter = [3, 3]",
            "channels = 0, filter = [3, 3]",
            "a conv layer with 0 channels",
        ),
        (
            "both",
            "input_shape = [4, 4, 1]",
            "input_shape = [4, 4, 1]\ninput_dim = 16",
            "input_dim or input_shape, not both",
        ),
        ("padding", "\"same\"", "\"full\"", "full"),
    ] {
        assert!(CNN.contains(from), "{name}");
        let bad = write(&dir, &format!("{name}.toml"), &CNN.replace(from, to));
        assert_fails(&run(&bad, &xf), &[&format!("{name}.toml"), says]);
    }
}

/// `train --net cnn.toml --targets 3` with a final Dense{3}: outputs.csv has the columns
/// `net_I_out_J`, each equal to output J of network I of NetSpec::init trained by SGL with
/// train_flat on the three targets; a description whose output width is not --targets is a
/// one-line error naming both numbers (status 2), as is the empirical kernel of such a network.
#[test]
fn cnn_files_train_with_several_targets() {
    let dir = scratch("cnn-targets");
    let text = CNN.replace("{ dense = { width = 1 } }", "{ dense = { width = 3 } }");
    let spec: NetSpec = toml::from_str(&text).unwrap();
    let net = write(&dir, "cnn3.toml", &text);
    let x = images(5, 0);
    let y = DMatrix::from_fn(5, 3, |i, j| ((i * 3 + j * 5) % 7) as f64 / 4.0 - 0.7);
    let train = DMatrix::from_fn(
        5,
        19,
        |i, j| if j < 16 { x[(i, j)] } else { y[(i, j - 16)] },
    );
    let tf = write(&dir, "train.csv", &csv_of(&train));
    let test = images(3, 5);
    let testf = write(&dir, "test.csv", &csv_of(&test));
    let out = dir.join("run");
    assert_ok(&sgntk_line(
        "train --net {} --targets 3 --mode sgl --nets 2 --steps 10 --lr 0.5 --seed 1 --train {} --test {} --out {}",
        &[&net, &tf, &testf, &out],
    ));
    let text_out = std::fs::read_to_string(out.join("outputs.csv")).unwrap();
    let header = text_out.lines().next().unwrap();
    let names: Vec<String> = (0..2)
        .flat_map(|k| (0..3).map(move |j| format!("net_{k}_out_{j}")))
        .collect();
    assert_eq!(header, names.join(","));
    let outputs = parse_csv(&text_out, "outputs").unwrap();
    let g: Surrogate = "erf-prime:1".parse().unwrap();
    let config = TrainConfig::new(LearningRule::Sgl(g), 0.5, 10);
    let data = TrainSet { x, y };
    let device = BackendKind::Flex.device().unwrap();
    for k in 0..2 {
        let mut n = spec.init(1, k, &device).unwrap();
        train_flat(&mut n, &data, &config, &[], |_, _| Ok(())).unwrap();
        let f = predict_flat(&n, &test).unwrap();
        assert_eq!(f.shape(), (3, 3));
        for j in 0..3 {
            assert_eq!(outputs.column(3 * k + j), f.column(j), "net {k} out {j}");
        }
    }
    // --targets 2 for three outputs, and the one-output CNN with three targets.
    let one = write(&dir, "cnn1.toml", CNN);
    for (file, targets, says) in [
        (&net, "2", ["3 output", "2 target"]),
        (&one, "3", ["1 output", "3 target"]),
    ] {
        let t2 = write(
            &dir,
            "t2.csv",
            &csv_of(
                &train
                    .columns(0, 16 + targets.parse::<usize>().unwrap())
                    .into_owned(),
            ),
        );
        assert_fails(
            &sgntk_line(
                &format!("train --net {{}} --targets {targets} --mode sgl --nets 1 --steps 2 --train {{}} --test {{}} --out {{}}"),
                &[file, &t2, &testf, &dir.join("bad")],
            ),
            &says,
        );
    }
    assert_fails(
        &sgntk_line(
            "kernel --kind nngp --empirical --nets 1 --net {} --x {}",
            &[&net, &testf],
        ),
        &["scalar output", "n_L = 3"],
    );
}
