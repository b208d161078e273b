//! The `sgntk` command line on hostile numbers (issue 13): huge times, sizes and values give a
//! correct result or one line `error: …` with status 2, never a hang, an abort, or NaN/inf
//! written with status 0.

mod common;
use common::*;

use std::path::Path;
use std::process::Output;

fn stdout_of(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

const TRAIN: &str = "x0,x1,y\n0.9,0.1,0.5\n-0.3,0.8,-0.2\n0.1,-0.9,0.3\n-0.7,-0.4,0.1\n";
const TEST: &str = "0.5,0.5\n-0.5,0.2\n";

/// A scratch directory `name` holding the training file `t.csv` (`train`) and the test file
/// `x.csv` (`test`); returns the directory and the two paths.
fn scratch_with(name: &str, train: &str, test: &str) -> (Scratch, String, String) {
    let dir = scratch(name);
    let t = write(&dir, "t.csv", train);
    let x = write(&dir, "x.csv", test);
    (dir, t, x)
}

/// Parses `predict`'s CSV numbers (skipping the header) and asserts they are all finite.
fn numbers(text: &str) -> Vec<f64> {
    let v: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with("mean,"))
        .flat_map(|l| l.split(',').map(|c| c.trim().parse::<f64>().unwrap()))
        .collect();
    assert!(v.iter().all(|x| x.is_finite()), "{text}");
    v
}

/// `predict --kind KIND --activation erf:2 --train T --test X`, to be filled by [`argv`].
const PREDICT: &str = "predict --kind {} --activation erf:2 --train {} --test {}";

/// Runs [`PREDICT`] of `kind` on the files `t` and `x`, followed by the words of `extra`.
fn predict(kind: &str, t: &str, x: &str, extra: &str) -> Output {
    sgntk_line(&format!("{PREDICT} {extra}"), &[&kind, &t, &x])
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9)
}

/// `--time 1e40` and `--lr 1e300 --time 10` hung in the matrix exponential: the answer is the
/// t = ∞ prediction.
#[test]
fn predict_with_huge_times_gives_the_infinite_time_limit() {
    let (_dir, t, x) = scratch_with("predict-time", TRAIN, TEST);
    let run = |extra: &str| numbers(&stdout_of(&predict("sgntk", &t, &x, extra)));
    let inf = run("");
    for extra in [
        "--time 1e40",
        "--lr 1e300 --time 10",
        "--time 1e40 --discrete",
    ] {
        assert!(close(&run(extra), &inf), "{extra:?}");
    }
    // discrete steps beyond the stable learning rate diverge: an error
    let diverging = "--lr 1e300 --time 10 --discrete";
    assert_fails(&predict("sgntk", &t, &x, diverging), &["diverges", "--lr"]);
}

/// Two training points 1e-7 apart: condition ~1e14, means ~ −2e5 for targets ~1.
#[test]
fn predict_rejects_ill_conditioned_kernels() {
    let close_pair = "0.3,0.8,1\n0.3000001,0.8,1.01\n-0.5,0.2,-0.5\n";
    let (_dir, t, x) = scratch_with("predict-cond", close_pair, TEST);
    for kind in ["ntk", "sgntk", "nngp"] {
        assert_fails(
            &predict(kind, &t, &x, ""),
            &["ill-conditioned", "duplicate"],
        );
    }
}

#[test]
fn predict_nngp_rejects_training_time_flags() {
    let (_dir, t, x) = scratch_with("predict-nngp", TRAIN, TEST);
    for extra in ["--time 5", "--lr 0.5", "--time 5 --discrete"] {
        assert_fails(&predict("nngp", &t, &x, extra), &["--kind nngp", "no time"]);
    }
}

#[test]
fn empty_spec_parameters_are_errors() {
    let dir = scratch("empty-spec");
    let x = write(&dir, "x.csv", TEST);
    let kernel = |line: &str| sgntk_line(line, &[&x]);
    let activation = "kernel --kind ntk --activation erf: --x {}";
    assert_fails(&kernel(activation), &["erf:", "empty"]);
    let surrogate = "kernel --kind sgntk --activation sign --surrogate fast-sigmoid: --x {}";
    assert_fails(&kernel(surrogate), &["fast-sigmoid:", "empty"]);
}

/// A row `1e20,1e20` is finite in f64 and f32, but ⟨x, x'⟩ = 2e40 overflows f32: the kernel was
/// written as inf/NaN with status 0.
#[test]
fn empirical_kernel_overflowing_f32_is_an_error() {
    let dir = scratch("kernel-big");
    let big = write(&dir, "big.csv", "0.5,0.5\n1e20,1e20\n");
    let out = dir.join("k.csv");
    let ntk = "kernel --kind ntk --activation erf:2 --empirical --width 16 --nets 2 \
               --x {} --out {}";
    assert_fails(&sgntk_line(ntk, &[&big, &out]), &["overflow"]);
    assert!(!out.exists());
    // NNGP path (outputs multiplied on the host): 1e39 does not fit f32 at all
    let huge = write(&dir, "huge.csv", "0.5,0.5\n1e39,1e39\n");
    let nngp = "kernel --kind nngp --activation erf:2 --empirical --width 16 --nets 2 --x {}";
    assert_fails(&sgntk_line(nngp, &[&huge]), &["overflows f32"]);
}

/// The files of `train`, to be filled by [`argv`].
const TRAIN_FILES: &str = "--train {} --test {} --out {}";

/// `train --mode MODE` of 2 networks of width 8 for `steps` steps on the files `t` and `x` into
/// `out`, followed by the words of `extra`.
fn train(mode: &str, steps: &str, [t, x, out]: [&str; 3], extra: &str) -> Output {
    let line =
        format!("train --mode {mode} --width 8 --nets 2 --steps {steps} {TRAIN_FILES} {extra}");
    sgntk_line(&line, &[&t, &x, &out])
}

#[test]
fn train_never_writes_non_finite_outputs() {
    let (dir, t, x) = scratch_with("train-big", TRAIN, "0.5,0.5\n1e39,1e39\n");
    let out = dir.join("run").display().to_string();
    assert_fails(
        &train("gd", "3", [&t, &x, &out], "--activation relu"),
        &["inputs value", "overflows f32"],
    );
    assert!(!Path::new(&out).join("outputs.csv").exists());
    // The same with a network from a file, checked before any network trains.
    let net = write(
        &dir,
        "net.toml",
        "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\nlayers = [\
         { dense = { width = 8 } }, { act = \"sign\" }, { residual = [{ dense = { width = 8 } }] }, \
         { act = \"sign\" }, { dense = { width = 1 } }]\n",
    );
    let line = format!("train --mode gd --nets 2 --steps 3 {TRAIN_FILES} --net {{}}");
    let o = sgntk_line(&line, &[&t, &x, &out, &net]);
    assert_fails(&o, &["test points value", "overflows f32"]);
    assert!(!Path::new(&out).join("outputs.csv").exists());
}

/// erf-prime:1e200 is valid in f64 but overflows f32: every network collapsed to the same
/// outputs with status 0.
#[test]
fn train_rejects_settings_that_overflow_f32() {
    let (dir, t, x) = scratch_with("train-f32", TRAIN, TEST);
    let out = dir.join("run").display().to_string();
    for g in ["erf-prime:1e200", "erf-prime:1e20"] {
        let extra = format!("--activation sign --surrogate {g}");
        let o = train("sgl", "3", [&t, &x, &out], &extra);
        assert_fails(&o, &["f32", g.split(':').next().unwrap()]);
    }
    assert!(!Path::new(&out).join("outputs.csv").exists());
}

/// Sizes that aborted with "memory allocation failed" or "capacity overflow".
#[test]
fn absurd_sizes_are_one_line_errors() {
    let (dir, t, x) = scratch_with("sizes", TRAIN, TEST);
    let out = dir.join("run").display().to_string();
    let ntk = "kernel --kind ntk --activation erf:2 --x {}";
    let kernel = |extra: &str| sgntk_line(&format!("{ntk} {extra}"), &[&x]);
    for extra in [
        "--empirical --width 10000000000 --nets 1",
        "--empirical --width 16 --nets 1000000000",
        "--empirical --width 16 --depth 1000000000",
        "--empirical --width 16 --depth 18446744073709551615",
        "--depth 1000000000",
        "--depth 18446744073709551615",
    ] {
        assert_fails(&kernel(extra), &["memory here"]);
    }
    // clap rejects a float where a count is expected
    assert_fails(&kernel("--empirical --width 1e10"), &["1e10"]);
    for (steps, extra) in [
        ("100000000000", "--activation erf:2"),
        ("18446744073709551615", "--activation erf:2"),
        ("3", "--activation erf:2 --depth 18446744073709551615"),
    ] {
        let o = train("gd", steps, [&t, &x, &out], extra);
        assert_fails(&o, &["memory here"]);
    }
    // Any network from a file (here a residual one).
    let res = write(
        &dir,
        "res.toml",
        "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\nlayers = [\
         { dense = { width = 8 } }, { residual = [{ act = \"relu\" }, { dense = { width = 8 } }] }, \
         { act = \"relu\" }, { dense = { width = 1 } }]\n",
    );
    let wide = write(
        &dir,
        "wide.toml",
        &std::fs::read_to_string(&res)
            .unwrap()
            .replace("width = 8", "width = 10000000000"),
    );
    let by_file =
        |line: &str, net: &str| sgntk_line(&format!("{line} --net {{}}"), &[&t, &x, &out, &net]);
    let train_file = format!("train --mode gd {TRAIN_FILES}");
    for (extra, net) in [
        ("--nets 1000000000000000000 --steps 3", &res),
        ("--nets 2 --steps 18446744073709551615", &res),
        ("--nets 2 --steps 3", &wide),
    ] {
        assert_fails(
            &by_file(&format!("{train_file} {extra}"), net),
            &["memory here"],
        );
    }
    let empirical = "kernel --kind nngp --empirical --nets 1000000000000000000 --x {} --net {}";
    assert_fails(&sgntk_line(empirical, &[&x, &res]), &["memory here"]);
    for (line, needles) in [
        ("bench --steps 18446744073709551615", &["--steps", "100000"]),
        (
            "bench --warmup 18446744073709551615",
            &["--warmup", "100000"],
        ),
        (
            "bench --widths 100000 --nets 1",
            &["width 100000", "memory here"],
        ),
    ] {
        assert_fails(&sgntk_line(line, &[]), needles);
    }
    let config = write(&dir, "c.toml", "[fig3a]\ngrid = 10000000000\n");
    assert_fails(
        &sgntk_line(
            "figure 3a --config {} --out {}",
            &[&config, &dir.join("fig")],
        ),
        &["fig3a", "grid", "memory here"],
    );
}

// ---- Issue 25: overflow vs the theory's singular values; sizes of figure settings ---------------

/// `kernel … --x X.csv` followed by `extra`: the CSV on success.
fn kernel_on(x: &str, extra: &str) -> Output {
    sgntk_line(&format!("kernel --x {{}} {extra}"), &[&x])
}

/// An f64 overflow in an analytic kernel is an error naming it, never `inf` with status 0.
#[test]
fn kernel_overflow_is_an_error() {
    let (dir, _t, x) = scratch_with("overflow", TRAIN, TEST);
    let _ = dir;
    for extra in [
        "--kind ntk --activation relu --kappa 1e200",
        "--kind ntk --activation erf:2 --sigma-w 4 --depth 2000",
        "--kind nngp --activation relu --sigma-w 1e200 --depth 3",
    ] {
        assert_fails(&kernel_on(&x, extra), &["overflows f64"]);
    }
    // A δ only where the theory has one: erf:M / erf-prime:A beyond f64's range are refused.
    assert_fails(
        &kernel_on(&x, "--kind ntk --activation erf:1e308"),
        &["erf:M", "overflow"],
    );
    assert_fails(
        &kernel_on(
            &x,
            "--kind sgntk --activation sign --surrogate erf-prime:1e200",
        ),
        &["erf-prime:A", "overflow"],
    );
    // Large but representable scales still give finite numbers.
    let o = kernel_on(
        &x,
        "--kind sgntk --activation sign --surrogate erf-prime:1e100",
    );
    let text = stdout_of(&o);
    assert!(!text.contains("inf") && !text.contains("nan"), "{text}");
}

/// The sign NTK's singular values are written: +∞ on the diagonal and, with σb = 0, −∞ exactly
/// at antipodal pairs (x, −x) (neural-tangents gives −inf there too); every other entry finite.
#[test]
fn sign_ntk_singular_values_are_written() {
    let angles: Vec<f64> = (0..8)
        .map(|i| i as f64 * std::f64::consts::PI / 4.0)
        .collect();
    let rows: Vec<String> = angles
        .iter()
        .map(|a| format!("{:?},{:?}", a.sin(), a.cos()))
        .collect();
    let dir = scratch("singular");
    let x = write(&dir, "circle.csv", &rows.join("\n"));
    for (sigma_b, antipodal) in [("0", "-inf"), ("0.1", "")] {
        let o = kernel_on(
            &x,
            &format!("--kind ntk --activation sign --sigma-b {sigma_b}"),
        );
        let text = stdout_of(&o);
        for (i, line) in text.lines().enumerate() {
            for (j, cell) in line.split(',').enumerate() {
                // antipodes: angles π apart, 4 steps of π/4 (their sin/cos differ by rounding)
                let expected = if i == j {
                    "inf"
                } else if (i + 4) % 8 == j {
                    antipodal
                } else {
                    ""
                };
                match expected {
                    "" => assert!(
                        cell.parse::<f64>().unwrap().is_finite(),
                        "σb {sigma_b} ({i}, {j}): {cell}"
                    ),
                    want => assert_eq!(cell, want, "σb {sigma_b} ({i}, {j})"),
                }
            }
        }
    }
}

/// Figure settings, `--shard` and sweep grids are size-checked before anything is allocated:
/// one line naming the setting and what fits, never an abort or a panic.
#[test]
fn figure_settings_shards_and_sweep_grids_are_size_checked() {
    let dir = scratch("figure-sizes");
    let out = dir.join("out");
    for (i, (config, needles)) in [
        (
            "[fig3a]\nwidths = [1000000]\n",
            &["fig3a", "widths", "memory here", "fit"][..],
        ),
        (
            "[fig3a]\nwidths = [9223372036854775807]\n",
            &["fig3a", "widths", "2^64"],
        ),
        (
            "[fig3a]\ndepth = 1000000000\n",
            &["fig3a", "depth", "memory here"],
        ),
        (
            "[fig1]\nwidths = [1000000]\n",
            &["fig1", "widths", "memory here"],
        ),
        (
            "[b1]\ngrid = 100000000000\n",
            &["b1", "grid", "memory here"],
        ),
        (
            "[fig1]\nrecord_steps = [10, 10]\n",
            &["fig1", "record_steps", "twice"],
        ),
        (
            "[fig1]\nnets = 100000\nrecord_steps = [10, 20, 30]\ngrid = 10000\n",
            &["fig1", "memory here"],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = write(&dir, &format!("c{i}.toml"), config);
        let which = config[1..]
            .split(']')
            .next()
            .unwrap()
            .trim_start_matches("fig");
        let o = sgntk_line("figure {} --config {} --out {}", &[&which, &cfg, &out]);
        assert_fails(&o, needles);
        assert!(!out.exists());
    }
    // More shards than chunks: shard 0 owns one chunk, the others none (no allocation per shard).
    let tiny = write(
        &dir,
        "tiny.toml",
        "[fig3a]\nwidths = [8]\nnets = 2\nsteps = 5\nchunk = 1\n",
    );
    for shard in [
        "0/1000000000000",
        "0/18446744073709551615",
        "999999/1000000000000",
    ] {
        let o = sgntk_line(
            "figure 3a --config {} --out {} --shard {} --threads 1",
            &[&tiny, &out, &shard],
        );
        assert_ok(&o);
    }
    let o = sgntk_line("figure 3a --config {} --out {} --threads 1", &[&tiny, &out]);
    assert_ok(&o);
    assert_eq!(json(&out.join("fig3a.json"))["resumed_chunks"], 1);
    // A sweep of 64 keys with 2 values each: 2^64 grid points, not 0.
    let keys: Vec<String> = (0..64).map(|k| format!("k{k} = [1, 2]")).collect();
    let sweep = write(
        &dir,
        "sweep.toml",
        &format!("figure = \"3a\"\n[grid]\n{}\n", keys.join("\n")),
    );
    let o = sgntk_line("sweep {} --out {}", &[&sweep, &dir.join("sweep")]);
    assert_fails(&o, &["≥2^64 grid points", "10000"]);
    let keys: Vec<String> = (0..14).map(|k| format!("k{k} = [1, 2]")).collect();
    std::fs::write(
        &sweep,
        format!("figure = \"3a\"\n[grid]\n{}\n", keys.join("\n")),
    )
    .unwrap();
    let o = sgntk_line("sweep {} --out {}", &[&sweep, &dir.join("sweep")]);
    assert_fails(&o, &["16384 grid points", "10000"]);
    assert!(!dir.join("sweep").exists());
}
