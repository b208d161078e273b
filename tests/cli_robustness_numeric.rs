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

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9)
}

/// `--time 1e40` and `--lr 1e300 --time 10` hung in the matrix exponential: the answer is the
/// t = ∞ prediction.
#[test]
fn predict_with_huge_times_gives_the_infinite_time_limit() {
    let dir = scratch("predict-time");
    let t = write(&dir, "t.csv", TRAIN);
    let x = write(&dir, "x.csv", TEST);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "predict",
            "--kind",
            "sgntk",
            "--activation",
            "erf:2",
            "--train",
            &t,
            "--test",
            &x,
        ];
        args.extend_from_slice(extra);
        numbers(&stdout_of(&sgntk(&args)))
    };
    let inf = run(&[]);
    for extra in [
        &["--time", "1e40"][..],
        &["--lr", "1e300", "--time", "10"],
        &["--time", "1e40", "--discrete"],
    ] {
        assert!(close(&run(extra), &inf), "{extra:?}");
    }
    // discrete steps beyond the stable learning rate diverge: an error
    assert_fails(
        &sgntk(&[
            "predict",
            "--kind",
            "sgntk",
            "--activation",
            "erf:2",
            "--train",
            &t,
            "--test",
            &x,
            "--lr",
            "1e300",
            "--time",
            "10",
            "--discrete",
        ]),
        &["diverges", "--lr"],
    );
}

/// Two training points 1e-7 apart: condition ~1e14, means ~ −2e5 for targets ~1.
#[test]
fn predict_rejects_ill_conditioned_kernels() {
    let dir = scratch("predict-cond");
    let t = write(
        &dir,
        "t.csv",
        "0.3,0.8,1\n0.3000001,0.8,1.01\n-0.5,0.2,-0.5\n",
    );
    let x = write(&dir, "x.csv", TEST);
    for kind in ["ntk", "sgntk", "nngp"] {
        assert_fails(
            &sgntk(&[
                "predict",
                "--kind",
                kind,
                "--activation",
                "erf:2",
                "--train",
                &t,
                "--test",
                &x,
            ]),
            &["ill-conditioned", "duplicate"],
        );
    }
}

#[test]
fn predict_nngp_rejects_training_time_flags() {
    let dir = scratch("predict-nngp");
    let t = write(&dir, "t.csv", TRAIN);
    let x = write(&dir, "x.csv", TEST);
    for extra in [
        &["--time", "5"][..],
        &["--lr", "0.5"],
        &["--time", "5", "--discrete"],
    ] {
        let mut args = vec![
            "predict",
            "--kind",
            "nngp",
            "--activation",
            "erf:2",
            "--train",
            &t,
            "--test",
            &x,
        ];
        args.extend_from_slice(extra);
        assert_fails(&sgntk(&args), &["--kind nngp", "no time"]);
    }
}

#[test]
fn empty_spec_parameters_are_errors() {
    let dir = scratch("empty-spec");
    let x = write(&dir, "x.csv", TEST);
    assert_fails(
        &sgntk(&["kernel", "--kind", "ntk", "--activation", "erf:", "--x", &x]),
        &["erf:", "empty"],
    );
    assert_fails(
        &sgntk(&[
            "kernel",
            "--kind",
            "sgntk",
            "--activation",
            "sign",
            "--surrogate",
            "fast-sigmoid:",
            "--x",
            &x,
        ]),
        &["fast-sigmoid:", "empty"],
    );
}

/// A row `1e20,1e20` is finite in f64 and f32, but ⟨x, x'⟩ = 2e40 overflows f32: the kernel was
/// written as inf/NaN with status 0.
#[test]
fn empirical_kernel_overflowing_f32_is_an_error() {
    let dir = scratch("kernel-big");
    let big = write(&dir, "big.csv", "0.5,0.5\n1e20,1e20\n");
    let out = dir.join("k.csv");
    assert_fails(
        &sgntk(&[
            "kernel",
            "--kind",
            "ntk",
            "--activation",
            "erf:2",
            "--empirical",
            "--width",
            "16",
            "--nets",
            "2",
            "--x",
            &big,
            "--out",
            &out.display().to_string(),
        ]),
        &["overflow"],
    );
    assert!(!out.exists());
    // NNGP path (outputs multiplied on the host): 1e39 does not fit f32 at all
    let huge = write(&dir, "huge.csv", "0.5,0.5\n1e39,1e39\n");
    assert_fails(
        &sgntk(&[
            "kernel",
            "--kind",
            "nngp",
            "--activation",
            "erf:2",
            "--empirical",
            "--width",
            "16",
            "--nets",
            "2",
            "--x",
            &huge,
        ]),
        &["overflows f32"],
    );
}

fn train_args<'a>(t: &'a str, x: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train", "--mode", "gd", "--width", "8", "--nets", "2", "--steps", "3", "--train", t,
        "--test", x, "--out", out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn train_never_writes_non_finite_outputs() {
    let dir = scratch("train-big");
    let t = write(&dir, "t.csv", TRAIN);
    let x = write(&dir, "x.csv", "0.5,0.5\n1e39,1e39\n");
    let out = dir.join("run").display().to_string();
    assert_fails(
        &sgntk(&train_args(&t, &x, &out, &["--activation", "relu"])),
        &["inputs value", "overflows f32"],
    );
    assert!(!Path::new(&out).join("outputs.csv").exists());
}

/// erf-prime:1e200 is valid in f64 but overflows f32: every network collapsed to the same
/// outputs with status 0.
#[test]
fn train_rejects_settings_that_overflow_f32() {
    let dir = scratch("train-f32");
    let t = write(&dir, "t.csv", TRAIN);
    let x = write(&dir, "x.csv", TEST);
    let out = dir.join("run").display().to_string();
    let mut args = train_args(&t, &x, &out, &["--activation", "sign", "--surrogate"]);
    args[2] = "sgl";
    for g in ["erf-prime:1e200", "erf-prime:1e20"] {
        let mut a = args.clone();
        a.push(g);
        assert_fails(&sgntk(&a), &["f32", g.split(':').next().unwrap()]);
    }
    assert!(!Path::new(&out).join("outputs.csv").exists());
}

/// Sizes that aborted with "memory allocation failed" or "capacity overflow".
#[test]
fn absurd_sizes_are_one_line_errors() {
    let dir = scratch("sizes");
    let t = write(&dir, "t.csv", TRAIN);
    let x = write(&dir, "x.csv", TEST);
    let out = dir.join("run").display().to_string();
    let kernel = |extra: &[&str]| {
        let mut args = vec![
            "kernel",
            "--kind",
            "ntk",
            "--activation",
            "erf:2",
            "--x",
            &x,
        ];
        args.extend_from_slice(extra);
        sgntk(&args)
    };
    for extra in [
        &["--empirical", "--width", "10000000000", "--nets", "1"][..],
        &["--empirical", "--width", "16", "--nets", "1000000000"],
        &["--empirical", "--width", "16", "--depth", "1000000000"],
        &[
            "--empirical",
            "--width",
            "16",
            "--depth",
            "18446744073709551615",
        ],
        &["--depth", "1000000000"],
        &["--depth", "18446744073709551615"],
    ] {
        assert_fails(&kernel(extra), &["memory here"]);
    }
    // clap rejects a float where a count is expected
    assert_fails(&kernel(&["--empirical", "--width", "1e10"]), &["1e10"]);
    for extra in [
        &["--steps", "100000000000"][..],
        &["--steps", "18446744073709551615"],
        &["--depth", "18446744073709551615"],
    ] {
        let mut args = train_args(&t, &x, &out, &["--activation", "erf:2"]);
        let flag = args.iter().position(|a| *a == extra[0]);
        match flag {
            Some(i) => args[i + 1] = extra[1],
            None => args.extend_from_slice(extra),
        }
        assert_fails(&sgntk(&args), &["memory here"]);
    }
    assert_fails(
        &sgntk(&["bench", "--steps", "18446744073709551615"]),
        &["--steps", "100000"],
    );
    assert_fails(
        &sgntk(&["bench", "--warmup", "18446744073709551615"]),
        &["--warmup", "100000"],
    );
    assert_fails(
        &sgntk(&["bench", "--widths", "100000", "--nets", "1"]),
        &["width 100000", "memory here"],
    );
    let config = write(&dir, "c.toml", "[fig3a]\ngrid = 10000000000\n");
    assert_fails(
        &sgntk(&[
            "figure",
            "3a",
            "--config",
            &config,
            "--out",
            &dir.join("fig").display().to_string(),
        ]),
        &["fig3a", "grid", "memory here"],
    );
}
