//! NumPy files and saved networks on the command line (issue 32): `.npy` in and out equal to CSV
//! bit for bit, `.npz` training sets and outputs, `train --save` / `--load` (continuing training
//! gives the networks of an uninterrupted run bit for bit; the loaded networks' empirical kernel
//! and outputs equal those of the networks in memory), one-line errors for damaged or foreign
//! files; and the figure examples (one per registered figure).

mod common;
use common::*;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// A command line, its `{}` values, and what its one-line error must contain.
type Case<'a> = (&'a str, &'a [&'a dyn AsRef<OsStr>], &'a [&'a str]);

use sgntk::experiments::io::{parse_csv, read_matrix, read_train, to_npy};
use sgntk::experiments::networks::{self, Networks, Training};
use sgntk::experiments::npy::{parse_npy, parse_npz};
use sgntk::model::data::{circle_points, targets, test_grid};
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{
    train, train_flat, BackendKind, Engine, Ensemble, FlatParamModel, LearningRule, MlpConfig,
    NetSpec, ResidualConfig, Surrogate, TrainConfig, TrainSet,
};
use sgntk::ntk::empirical::{empirical_kernel, ensemble_mean, jacobian_kernel, DerivativePair};

fn csv_of(m: &DMatrix<f64>) -> String {
    let mut s = String::new();
    for r in 0..m.nrows() {
        let row: Vec<String> = (0..m.ncols()).map(|c| format!("{:?}", m[(r, c)])).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn bits(m: &DMatrix<f64>) -> Vec<u64> {
    m.iter().map(|v| v.to_bits()).collect()
}

/// A `.npy` file of `m` (float64, C order) in `dir`.
fn npy_file(dir: &Path, name: &str, m: &DMatrix<f64>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, to_npy(m)).unwrap();
    p
}

/// A raw `.npy` file read back (non-finite entries allowed): shape and C-order entries.
fn raw_npy(p: &Path) -> DMatrix<f64> {
    let a = parse_npy(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(a.shape.len(), 2, "{}", p.display());
    DMatrix::from_row_slice(a.shape[0], a.shape[1], &a.data)
}

/// Six training points on the circle with their targets, as (x, y).
fn training_set() -> TrainSet {
    let x = circle_points(&[-2.0, -1.0, 0.3, 1.2, 2.4, 2.9]);
    TrainSet { y: targets(&x), x }
}

/// The training set as a CSV table (inputs, then the target).
fn train_table(set: &TrainSet) -> DMatrix<f64> {
    DMatrix::from_fn(set.x.nrows(), 3, |i, j| {
        if j < 2 {
            set.x[(i, j)]
        } else {
            set.y[(i, 0)]
        }
    })
}

#[test]
fn npy_kernels_equal_csv_kernels_bit_for_bit() {
    let dir = scratch("npy-kernel");
    let x = circle_points(&test_grid(12));
    let y = circle_points(&[0.1, 1.7, -2.2]);
    let (xc, yc) = (dir.join("x.csv"), dir.join("y.csv"));
    std::fs::write(&xc, csv_of(&x)).unwrap();
    std::fs::write(&yc, csv_of(&y)).unwrap();
    let (xn, yn) = (npy_file(&dir, "x.npy", &x), npy_file(&dir, "y.npy", &y));
    // erf: finite entries; sign NTK: ∞ on the diagonal (written as `inf` and as IEEE ∞).
    for net in ["--activation erf:2", "--activation sign"] {
        for (kind, extra) in [("sgntk", ""), ("ntk", ""), ("nngp", "--y {}")] {
            let line =
                |out: &str| format!("kernel --kind {kind} {net} --x {{}} {extra} --out {out}");
            let (kc, kn) = (dir.join("k.csv"), dir.join("k.npy"));
            let o = if extra.is_empty() {
                sgntk_line(&line("{}"), &[&xc, &kc])
            } else {
                sgntk_line(&line("{}"), &[&xc, &yc, &kc])
            };
            assert_ok(&o);
            let o = if extra.is_empty() {
                sgntk_line(&line("{}"), &[&xn, &kn])
            } else {
                sgntk_line(&line("{}"), &[&xn, &yn, &kn])
            };
            assert_ok(&o);
            let csv = std::fs::read_to_string(&kc).unwrap();
            let csv = csv.replace("inf", "1e999"); // parse ∞ for the comparison
            let from_csv = DMatrix::from_row_slice(
                csv.lines().count(),
                csv.lines().next().unwrap().split(',').count(),
                &csv.lines()
                    .flat_map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap()))
                    .collect::<Vec<_>>(),
            );
            let from_npy = raw_npy(&kn);
            assert_eq!(from_npy.shape(), from_csv.shape(), "{kind} {net}");
            assert_eq!(bits(&from_npy), bits(&from_csv), "{kind} {net}");
        }
    }
}

#[test]
fn writing_a_large_kernel_as_npy_is_much_faster_than_csv() {
    // A measurement (printed), not a timing assertion: a 1000 × 1000 kernel through the CLI's
    // writer in both formats, read back bit for bit.
    let dir = scratch("npy-speed");
    let k = DMatrix::from_fn(1000, 1000, |i, j| {
        ((i * 1000 + j) as f64 * 0.618_033_988_749_894_9).sin() / (1.0 + i as f64)
    });
    let time = |p: &Path| {
        let t = std::time::Instant::now();
        sgntk::experiments::io::write_matrix(p, &k, None).unwrap();
        t.elapsed().as_secs_f64()
    };
    let (csv, npy) = (dir.join("k.csv"), dir.join("k.npy"));
    let (t_csv, t_npy) = (time(&csv), time(&npy));
    eprintln!(
        "1000 × 1000 kernel: CSV {:.3} s ({} bytes), .npy {:.4} s ({} bytes): {:.0}× faster",
        t_csv,
        std::fs::metadata(&csv).unwrap().len(),
        t_npy,
        std::fs::metadata(&npy).unwrap().len(),
        t_csv / t_npy
    );
    assert_eq!(bits(&read_matrix(&npy).unwrap()), bits(&k));
    assert_eq!(bits(&read_matrix(&csv).unwrap()), bits(&k));
}

#[test]
fn npz_training_sets_and_outputs() {
    let dir = scratch("npz-train");
    let set = training_set();
    let tc = dir.join("t.csv");
    std::fs::write(&tc, csv_of(&train_table(&set))).unwrap();
    let xt = npy_file(&dir, "x.npy", &circle_points(&test_grid(7)));
    // The same training set as .npz (x, y) and as a 2-D .npy (inputs, then the target).
    let tz = dir.join("t.npz");
    let members = [("x", to_npy(&set.x)), ("y", to_npy(&set.y))];
    std::fs::write(&tz, sgntk::experiments::npy::to_npz(&members).unwrap()).unwrap();
    let tn = npy_file(&dir, "t.npy", &train_table(&set));
    let mut gp = Vec::new();
    for t in [&tc, &tz, &tn] {
        let o = sgntk_line(
            "predict --kind sgntk --activation sign --train {} --test {}",
            &[t, &xt],
        );
        assert_ok(&o);
        gp.push(o.stdout);
    }
    assert!(gp[0] == gp[1] && gp[0] == gp[2]);
    // Training outputs as one .npz: `outputs` and `loss` hold the CSV tables.
    let args =
        "--activation erf:2 --mode gd --width 16 --nets 2 --steps 5 --train {} --test {} --out {}";
    let run = dir.join("run");
    assert_ok(&sgntk_line(&format!("train {args}"), &[&tz, &xt, &run]));
    let npz = dir.join("run.npz");
    assert_ok(&sgntk_line(&format!("train {args}"), &[&tz, &xt, &npz]));
    let members = parse_npz(&std::fs::read(&npz).unwrap()).unwrap();
    let array = |name: &str| {
        let (_, bytes) = members.iter().find(|(k, _)| k == name).unwrap();
        let a = parse_npy(bytes).unwrap();
        DMatrix::from_row_slice(a.shape[0], a.shape[1], &a.data)
    };
    let csv =
        |name: &str| parse_csv(&std::fs::read_to_string(run.join(name)).unwrap(), name).unwrap();
    assert_eq!(bits(&array("outputs")), bits(&csv("outputs.csv")));
    assert_eq!(bits(&array("loss")), bits(&csv("loss.csv")));
    // Errors: an archive where one array is expected, a 4-D training array, a 1-D array.
    let img = dir.join("img.npy");
    std::fs::write(
        &img,
        sgntk::experiments::npy::to_npy(&[6, 1, 1, 3], &[0.5; 18]),
    )
    .unwrap();
    let one_d = dir.join("v.npy");
    std::fs::write(&one_d, sgntk::experiments::npy::to_npy(&[3], &[1.0; 3])).unwrap();
    let cases: [Case; 3] = [
        (
            "kernel --kind ntk --activation sign --x {}",
            &[&tz],
            &["t.npz", "several arrays"],
        ),
        (
            "predict --kind ntk --activation sign --train {} --test {}",
            &[&img, &xt],
            &["img.npy", "2-D"],
        ),
        (
            "kernel --kind ntk --activation sign --x {}",
            &[&one_d],
            &["v.npy", "shape (3,)"],
        ),
    ];
    for (line, values, needles) in cases {
        assert_fails(&sgntk_line(line, values), needles);
    }
    let e = read_train(&img, None).unwrap_err().to_string();
    assert!(e.contains("2-D"), "{e}");
}

/// `sgntk train` of `args` with `extra` flags into `out`: the outputs CSV and loss CSV texts.
fn run_train(line: &str, values: &[&dyn AsRef<std::ffi::OsStr>], out: &Path) -> (String, String) {
    let o = sgntk_line(line, values);
    assert_ok(&o);
    (
        std::fs::read_to_string(out.join("outputs.csv")).unwrap(),
        std::fs::read_to_string(out.join("loss.csv")).unwrap(),
    )
}

#[test]
fn saved_networks_continue_bit_for_bit() {
    let dir = scratch("save-continue");
    let set = training_set();
    let tf = dir.join("t.csv");
    std::fs::write(&tf, csv_of(&train_table(&set))).unwrap();
    let xf = dir.join("x.csv");
    std::fs::write(&xf, csv_of(&circle_points(&test_grid(8)))).unwrap();
    let res = dir.join("res.toml");
    std::fs::write(
        &res,
        "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\nlayers = [\n\
         { dense = { width = 12 } },\n{ residual = [{ act = \"sign\" }, { dense = { width = 12 } }] },\n\
         { act = \"sign\" },\n{ dense = { width = 1 } },\n]\n",
    )
    .unwrap();
    let res = res.display().to_string();
    // (networks, steps): MLPs on every engine, and a residual sign network (autodiff). Sign
    // networks of width 256 on the lowrank engine carry deferred updates and pre-activations
    // from step to step (saved in the file as its engine state, format version 2); at 15 steps
    // the carried pre-activations are 15 steps old (recomputed every 64) and a deferred pair is
    // open, so a continued run is exact only if all of it is restored.
    let sign256 = "--activation sign --width 256 --nets 4";
    let cases = [
        ("--activation erf:2 --width 24 --engine fused", 30),
        ("--activation sign --width 24 --engine explicit", 30),
        (
            "--activation tanh --depth 2 --width 8 --engine autodiff",
            30,
        ),
        ("--activation erf:2 --width 24 --engine lowrank", 30), // smooth φ: the plain step
        (&*format!("{sign256} --engine lowrank"), 30),
        (&*format!("{sign256} --engine auto"), 30), // the CPU default: lowrank
        (&*format!("{sign256} --engine fused"), 30),
        (&*format!("{sign256} --engine autodiff"), 10),
        (&*format!("--net {res}"), 10),
    ];
    for (net, steps) in cases {
        let nets = if net.contains("--nets") {
            ""
        } else {
            "--nets 3"
        };
        let half = steps / 2;
        let fresh = |steps: usize, out: &Path, save: &Path| {
            run_train(
                &format!(
                    "train {net} {nets} --mode sgl --surrogate erf-prime:2 --seed 5 --lr 0.2 \
                     --steps {steps} --train {{}} --test {{}} --out {{}} --save {{}}"
                ),
                &[&tf, &xf, &out, &save],
                out,
            )
        };
        let (full_out, full_loss) = fresh(steps, &dir.join("full"), &dir.join("full.st"));
        let (_, first_loss) = fresh(half, &dir.join("a"), &dir.join("a.st"));
        let engine = net.split("--engine ").nth(1).unwrap_or("auto");
        if net.starts_with(sign256) && ["lowrank", "auto"].contains(&engine) {
            // The half-way file carries the lowrank state, and it is not trivial.
            let device = BackendKind::Flex.device().unwrap();
            let saved = networks::load(&dir.join("a.st"), &device).unwrap();
            let state = saved.state.expect("a lowrank sign-256 run saves its state");
            let counters = &state.layers[0].counters;
            assert!(counters.chunks(3).any(|c| c[0] == 1), "{counters:?}");
            assert!(
                counters.chunks(3).any(|c| c[1] == 1 && c[2] > 0),
                "{counters:?}"
            );
        }
        let (cont_out, cont_loss) = run_train(
            &format!(
                "train --load {{}} --steps {} --engine {engine} --train {{}} --test {{}} \
                 --out {{}} --save {{}}",
                steps - half
            ),
            &[
                &dir.join("a.st"),
                &tf,
                &xf,
                &dir.join("b"),
                &dir.join("b.st"),
            ],
            &dir.join("b"),
        );
        // The same networks: the saved files (parameters, description, settings, step count)
        // are byte-identical, and so are the outputs and the loss curve of the second half.
        assert_eq!(cont_out, full_out, "{net}");
        assert!(
            std::fs::read(dir.join("b.st")).unwrap() == std::fs::read(dir.join("full.st")).unwrap(),
            "the saved files differ: {net}"
        );
        let tail: Vec<&str> = full_loss.lines().skip(1 + half).collect();
        assert_eq!(cont_loss.lines().skip(1).collect::<Vec<_>>(), tail, "{net}");
        assert_eq!(
            first_loss.lines().last(),
            full_loss.lines().nth(1 + half),
            "{net}"
        );
        // predict --load: the saved networks' outputs are train's outputs.
        let o = sgntk_line(
            "predict --load {} --test {} --out {}",
            &[&dir.join("full.st"), &xf, &dir.join("p.csv")],
        );
        assert_ok(&o);
        assert_eq!(
            std::fs::read_to_string(dir.join("p.csv")).unwrap(),
            full_out,
            "{net}"
        );
    }
}

#[test]
fn empirical_kernel_of_loaded_networks_equals_the_networks_in_memory() {
    let device = BackendKind::Flex.device().unwrap();
    let set = training_set();
    let x = circle_points(&test_grid(6));
    let g = Surrogate::ErfPrime { a: 2.0 };
    let pair = DerivativePair::sg_ntk(g);
    let config = TrainConfig {
        rule: LearningRule::Sgl(g),
        lr: 0.2,
        steps: 20,
        engine: Engine::Fused,
    };
    let training = Training {
        rule: config.rule,
        lr: 0.2,
        steps: 20,
        seed: 3,
        engine: Engine::Fused,
        backend: "flex".into(),
        data_sha256: networks::data_sha256(&set.x, &set.y),
    };
    // An MLP ensemble.
    let mlp = MlpConfig::paper(24, "erf:2".parse().unwrap());
    let mut ens = Ensemble::init(&mlp, 3, 3, &device).unwrap();
    train(&mut ens, &set, &config, &[], |_, _| Ok(())).unwrap();
    let in_memory = ensemble_mean(&empirical_kernel(&ens, &x, &set.x, pair).unwrap());
    let spec = NetSpec::mlp(&mlp);
    let bytes = networks::to_bytes(&spec, &training, &Networks::Batched(ens), None).unwrap();
    let saved = networks::from_bytes(&bytes, "mem", &device).unwrap();
    assert_eq!(saved.spec, spec);
    assert_eq!(saved.training, training);
    let Networks::Batched(loaded) = &saved.networks else {
        panic!("an MLP loads as an ensemble")
    };
    let reloaded = ensemble_mean(&empirical_kernel(loaded, &x, &set.x, pair).unwrap());
    assert_eq!(bits(&reloaded), bits(&in_memory));
    // The CLI on the saved file gives the same kernel.
    let dir = scratch("loaded-kernel");
    let file = dir.join("nets.safetensors");
    std::fs::write(&file, &bytes).unwrap();
    let (xf, yf) = (npy_file(&dir, "x.npy", &x), npy_file(&dir, "y.npy", &set.x));
    let kf = dir.join("k.npy");
    assert_ok(&sgntk_line(
        "kernel --empirical --load {} --kind sgntk --surrogate erf-prime:2 --x {} --y {} --out {}",
        &[&file, &xf, &yf, &kf],
    ));
    assert_eq!(bits(&raw_npy(&kf)), bits(&in_memory));
    // A residual network that is not an MLP with skips (its branch is [dense, act]): flat
    // parameters, per-sample Jacobians.
    let mut spec = NetSpec::residual(&ResidualConfig::new(10, 1, "erf:2".parse().unwrap()));
    spec.layers[1] = sgntk::model::Layer::Residual(vec![
        sgntk::model::Layer::Dense { width: 10 },
        sgntk::model::Layer::Act("erf:2".parse().unwrap()),
    ]);
    let mut nets = Vec::new();
    for k in 0..2 {
        let mut net = spec.init(3, k, &device).unwrap();
        train_flat(&mut net, &set, &config, &[], |_, _| Ok(())).unwrap();
        nets.push(net);
    }
    let kernels = |nets: &[sgntk::model::FlatNet<NetSpec>]| {
        let k: Vec<_> = nets
            .iter()
            .map(|n| jacobian_kernel(n, &x, &set.x, pair).unwrap())
            .collect();
        ensemble_mean(&k)
    };
    let in_memory = kernels(&nets);
    let params: Vec<Vec<f64>> = nets[1]
        .parameters()
        .iter()
        .flat_map(|p| p.to_data().iter::<f64>().collect::<Vec<_>>())
        .map(|v| vec![v])
        .collect();
    let bytes = networks::to_bytes(&spec, &training, &Networks::Flat(nets), None).unwrap();
    let saved = networks::from_bytes(&bytes, "mem", &device).unwrap();
    let Networks::Flat(loaded) = &saved.networks else {
        panic!("a residual network of another form loads as flat networks")
    };
    let loaded_params: Vec<Vec<f64>> = loaded[1]
        .parameters()
        .iter()
        .flat_map(|p| p.to_data().iter::<f64>().collect::<Vec<_>>())
        .map(|v| vec![v])
        .collect();
    assert_eq!(loaded_params, params);
    assert_eq!(bits(&kernels(loaded)), bits(&in_memory));
}

#[test]
fn damaged_or_foreign_network_files_are_one_line_errors() {
    let dir = scratch("bad-networks");
    let set = training_set();
    let tf = dir.join("t.csv");
    std::fs::write(&tf, csv_of(&train_table(&set))).unwrap();
    let xf = dir.join("x.csv");
    std::fs::write(&xf, csv_of(&circle_points(&test_grid(4)))).unwrap();
    let good = dir.join("good.st");
    assert_ok(&sgntk_line(
        "train --activation erf:2 --width 8 --nets 2 --steps 3 --mode gd --train {} --test {} \
         --out {} --save {}",
        &[&tf, &xf, &dir.join("run"), &good],
    ));
    let bytes = std::fs::read(&good).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // Same-length edits of the JSON header: another format version, another network, another
    // format.
    let edit = |name: &str, from: &str, to: &str| {
        assert!(text.contains(from), "{from} in {text:.300}");
        let pos = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap();
        let mut b = bytes.clone();
        b[pos..pos + from.len()].copy_from_slice(to.as_bytes());
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let v9 = edit(
        "v9.st",
        "\\\"format_version\\\":1",
        "\\\"format_version\\\":9",
    );
    let other = edit("other.st", "{\\\"width\\\":8}", "{\\\"width\\\":7}");
    let foreign = edit("foreign.st", "sgntk-networks", "sgntk-networkz");
    let cut = dir.join("cut.st");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let net_toml = dir.join("net.toml");
    std::fs::write(
        &net_toml,
        "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\nlayers = [\n\
         { dense = { width = 9 } }, { act = \"erf:2\" }, { dense = { width = 9 } },\n\
         { act = \"erf:2\" }, { dense = { width = 1 } },\n]\n",
    )
    .unwrap();
    let predict = "predict --load {} --test {}";
    let run_r = dir.join("r");
    let x3 = dir.join("x3.csv");
    std::fs::write(&x3, "1,2,3\n").unwrap();
    let cases: [Case; 9] = [
        (
            predict,
            &[&good, &x3],
            &["x3.csv", "3 columns", "input dimension of the networks in"],
        ),
        (
            predict,
            &[&v9, &xf],
            &["v9.st", "format version 9", "reads versions 1 to 2"],
        ),
        (predict, &[&other, &xf], &["other.st", "another network"]),
        (
            predict,
            &[&foreign, &xf],
            &["foreign.st", "not a saved-networks file"],
        ),
        (predict, &[&cut, &xf], &["cut.st", "corrupt"]),
        (
            predict,
            &[&tf, &xf],
            &["t.csv", "not a saved-networks file"],
        ),
        (
            "predict --load {} --net {} --test {}",
            &[&good, &net_toml, &xf],
            &["good.st", "another description than"],
        ),
        (
            "kernel --kind ntk --load {} --x {}",
            &[&good, &xf],
            &["--empirical"],
        ),
        (
            "train --load {} --steps 2 --lr 0.5 --train {} --test {} --out {}",
            &[&good, &tf, &xf, &run_r],
            &["--lr", "--load"],
        ),
    ];
    for (line, values, needles) in cases {
        assert_fails(&sgntk_line(line, values), needles);
    }
}

#[test]
fn every_registered_figure_has_its_example() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for f in sgntk::experiments::figures::REGISTRY.iter() {
        let path = examples.join(format!("{}.rs", f.stem));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "figure {} has no example {} ({e}): add one like examples/fig3a.rs",
                f.stem,
                path.display()
            )
        });
        let call = format!("figure_example(Some(\"{}\"))", f.stem);
        assert!(
            text.contains(&call),
            "{} does not call {call}",
            path.display()
        );
    }
}

#[test]
fn a_figure_example_runs_its_figure_with_the_cli_flags() {
    // cargo test builds the examples beside the test binaries: target/debug/examples/.
    let bin = Path::new(env!("CARGO_BIN_EXE_sgntk"));
    let example = bin.parent().unwrap().join("examples").join("figb1");
    assert!(
        example.exists(),
        "{} is missing: `cargo test --workspace` builds the examples",
        example.display()
    );
    let dir = scratch("example-figb1");
    let run = |args: &[&str]| {
        std::process::Command::new(&example)
            .args(args)
            .output()
            .unwrap()
    };
    let out = dir.join("figs").display().to_string();
    assert_ok(&run(&["--out", &out, "--seed", "2", "--format", "svg"]));
    let report = json(&dir.join("figs/figb1.json"));
    assert_eq!(report["seed"], 2, "{report}");
    assert!(dir.join("figs/figb1.svg").exists());
    assert_fails(&run(&["--paper", "--preset", "quick"]), &["--preset"]);
    assert_fails(&run(&["3a"]), &["3a"]);
}

/// `--targets N`: the last N columns of a training file (or an .npz's `y` of shape (points, N))
/// are targets. `predict` writes `mean_0,…,mean_{N−1},std`, each mean column bit for bit the
/// one-target prediction of that column and the std the same; `train` gives the networks N
/// outputs (`net_I_out_J`), and each output equals that of the networks in memory trained on the
/// N columns. Wrong counts are one-line errors.
#[test]
fn several_targets_on_the_command_line() {
    let dir = scratch("targets");
    let set = training_set();
    // two targets: f and −f/2 + 0.1
    let y2 = DMatrix::from_fn(set.x.nrows(), 2, |i, j| {
        if j == 0 {
            set.y[(i, 0)]
        } else {
            0.1 - 0.5 * set.y[(i, 0)]
        }
    });
    let table = DMatrix::from_fn(set.x.nrows(), 4, |i, j| {
        if j < 2 {
            set.x[(i, j)]
        } else {
            y2[(i, j - 2)]
        }
    });
    let t2 = dir.join("t2.csv");
    std::fs::write(&t2, csv_of(&table)).unwrap();
    let xt = npy_file(&dir, "x.npy", &circle_points(&test_grid(5)));
    let gp = "predict --kind sgntk --activation sign --time 50 --lr 0.1 --discrete";
    let o = sgntk_line(
        &format!("{gp} --targets 2 --train {{}} --test {{}}"),
        &[&t2, &xt],
    );
    assert_ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("mean_0,mean_1,std\n"), "{text}");
    let both = parse_csv(&text, "both").unwrap();
    for j in 0..2 {
        let one = DMatrix::from_fn(set.x.nrows(), 3, |i, c| {
            if c < 2 {
                set.x[(i, c)]
            } else {
                y2[(i, j)]
            }
        });
        let t1 = dir.join(format!("t1_{j}.csv"));
        std::fs::write(&t1, csv_of(&one)).unwrap();
        let o = sgntk_line(&format!("{gp} --train {{}} --test {{}}"), &[&t1, &xt]);
        assert_ok(&o);
        let single = parse_csv(&String::from_utf8(o.stdout).unwrap(), "one").unwrap();
        let col = |m: &DMatrix<f64>, c: usize| -> Vec<u64> {
            m.column(c).iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(col(&single, 0), col(&both, j), "mean of target {j}");
        assert_eq!(col(&single, 1), col(&both, 2), "std");
    }
    // train: 2 networks with 2 outputs each, equal to the library's networks
    let run = dir.join("run");
    let line = "train --activation erf:2 --mode gd --width 16 --nets 2 --steps 20 --seed 4 --engine autodiff --targets 2 --train {} --test {} --out {}";
    let (outputs, _) = run_train(line, &[&t2, &xt, &run], &run);
    let header = outputs.lines().next().unwrap();
    assert_eq!(header, "net_0_out_0,net_0_out_1,net_1_out_0,net_1_out_1");
    let table = parse_csv(&outputs, "outputs").unwrap();
    let device = BackendKind::Flex.device().unwrap();
    let config = MlpConfig::new(vec![2, 16, 16, 2], "erf:2".parse().unwrap());
    let mut ens = Ensemble::init(&config, 2, 4, &device).unwrap();
    let data = TrainSet {
        x: set.x.clone(),
        y: y2.clone(),
    };
    let cfg = TrainConfig {
        engine: Engine::Autodiff,
        ..TrainConfig::new(LearningRule::Gd, 0.1, 20)
    };
    train(&mut ens, &data, &cfg, &[], |_, _| Ok(())).unwrap();
    let f = ens.predict(&circle_points(&test_grid(5))).unwrap();
    for (k, fk) in f.iter().enumerate() {
        for j in 0..2 {
            let diff = (table.column(2 * k + j) - fk.column(j)).amax();
            assert!(diff < 1e-12, "net {k} output {j}: {diff:e}");
        }
    }
    // errors: a file with fewer columns than the targets need, a .npz `y` of the wrong width,
    // --targets 0, and --kind nw with two targets
    let tz = dir.join("t.npz");
    let members = [("x", to_npy(&set.x)), ("y", to_npy(&set.y))];
    std::fs::write(&tz, sgntk::experiments::npy::to_npz(&members).unwrap()).unwrap();
    let cases: [Case; 4] = [
        (
            "predict --kind ntk --activation sign --targets 4 --train {} --test {}",
            &[&t2, &xt],
            &["t2.csv", "at least 5"],
        ),
        (
            "predict --kind ntk --activation sign --targets 2 --train {} --test {}",
            &[&tz, &xt],
            &["t.npz", "(points, 2)"],
        ),
        (
            "predict --kind ntk --activation sign --targets 0 --train {} --test {}",
            &[&t2, &xt],
            &["--targets must be ≥ 1"],
        ),
        (
            "predict --kind nw --activation sign --targets 2 --train {} --test {}",
            &[&t2, &xt],
            &["--targets 1"],
        ),
    ];
    for (line, values, needles) in cases {
        assert_fails(&sgntk_line(line, values), needles);
    }
}
