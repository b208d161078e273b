//! The command line for a newcomer's first hour: every kernel the library has is reachable
//! (`--kind generalized --g1 --g2`, analytic and empirical, equal to the library's; `predict --kind
//! nw`, the library's Nadaraya–Watson classifier), what the CLI ignores it says (a warning for an
//! ignored `--surrogate`), invalid values are listed on one line, progress lines appear when
//! stderr is a pipe, and `sweep` runs `train` over a grid on the user's own files.

mod common;
use common::*;

use std::process::Output;

use sgntk::experiments::io::parse_csv;
use sgntk::model::data::{circle_points, targets, test_grid};
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{Activation, BackendKind, Ensemble, MlpConfig, Surrogate};
use sgntk::ntk::empirical::{empirical_kernel, ensemble_mean, DerivativePair};
use sgntk::ntk::{kernel_matrix, nadaraya_watson, KernelKind, KernelSpec};

fn csv_of(m: &DMatrix<f64>, header: Option<&str>) -> String {
    let mut s = header.map(|h| format!("{h}\n")).unwrap_or_default();
    for r in 0..m.nrows() {
        let row: Vec<String> = (0..m.ncols()).map(|c| format!("{:?}", m[(r, c)])).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn stdout_matrix(o: &Output) -> DMatrix<f64> {
    assert_ok(o);
    parse_csv(&String::from_utf8_lossy(&o.stdout), "stdout").unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ERF_PRIME: Surrogate = Surrogate::ErfPrime { a: 1.0 };

#[test]
fn generalized_kernels_from_the_command_line() {
    let dir = scratch("kinds-generalized");
    let x = circle_points(&[-2.0, -0.5, 0.0, 0.7, 2.5]);
    let xf = write(&dir, "x.csv", &csv_of(&x, None));
    // Analytic: the sign network's kernel with erf' on the rows and a fast sigmoid on the columns.
    let o = sgntk_line(
        "kernel --kind generalized --g1 erf-prime --g2 fast-sigmoid:2 --activation sign --x {}",
        &[&xf],
    );
    let got = stdout_matrix(&o);
    let spec = KernelSpec::paper(Activation::Sign, ERF_PRIME);
    let g2 = Surrogate::FastSigmoid { k: 2.0 };
    let kind = KernelKind::Generalized { g1: ERF_PRIME, g2 };
    let want = kernel_matrix(&spec, kind, &x, &x).unwrap();
    assert_eq!(got, want);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // Empirical, a surrogate on both sides: what the true-derivative kernel of sign nets refers to.
    let o = sgntk_line(
        "kernel --kind generalized --g1 erf-prime --g2 erf-prime --activation sign --x {} \
         --empirical --width 16 --nets 3 --seed 7",
        &[&xf],
    );
    let got = stdout_matrix(&o);
    let device = BackendKind::Flex.device().unwrap();
    let ens = Ensemble::init(&MlpConfig::paper(16, Activation::Sign), 3, 7, &device).unwrap();
    let pair = DerivativePair {
        g1: ERF_PRIME,
        g2: ERF_PRIME,
    };
    let want = ensemble_mean(&empirical_kernel(&ens, &x, &x, pair).unwrap());
    assert!(
        (&got - &want).amax() <= 1e-12 * want.amax(),
        "{got} vs {want}"
    );
    // The message that sends users here names the real flags.
    let o = sgntk_line(
        "kernel --kind ntk --activation sign --x {} --empirical --width 8",
        &[&xf],
    );
    assert_fails(&o, &["--kind generalized --g1 SPEC --g2 SPEC"]);
    // Missing or misplaced pair flags.
    let o = sgntk_line(
        "kernel --kind generalized --g1 true --activation sign --x {}",
        &[&xf],
    );
    assert_fails(&o, &["--g2"]);
    let o = sgntk_line(
        "kernel --kind ntk --g1 true --activation erf:2 --x {}",
        &[&xf],
    );
    assert_fails(&o, &["--g1/--g2 only apply to --kind generalized"]);
    // An invalid kind lists the valid ones, on one line.
    let o = sgntk_line("kernel --kind sg-ntk --activation sign --x {}", &[&xf]);
    assert_fails(&o, &["sg-ntk", "possible values", "sgntk", "generalized"]);
}

#[test]
fn nadaraya_watson_classes_and_ignored_surrogate_warnings() {
    let dir = scratch("kinds-nw");
    let xt = circle_points(&[-2.0, -1.0, 0.3, 1.2, 2.4]);
    let yt = targets(&xt);
    let train = DMatrix::from_fn(5, 3, |i, j| if j < 2 { xt[(i, j)] } else { yt[(i, 0)] });
    let tf = write(&dir, "train.csv", &csv_of(&train, Some("x0,x1,y")));
    let test = circle_points(&test_grid(9));
    let xf = write(&dir, "test.csv", &csv_of(&test, None));
    let o = sgntk_line(
        "predict --kind nw --activation sign --train {} --test {}",
        &[&tf, &xf],
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("class\n"));
    let got = stdout_matrix(&o);
    let spec = KernelSpec::paper(Activation::Sign, ERF_PRIME);
    let k_tx = kernel_matrix(&spec, KernelKind::Ntk, &test, &xt).unwrap();
    assert_eq!(got, nadaraya_watson(&k_tx, &yt).unwrap());
    assert!(got.iter().all(|c| [-1.0, 1.0].contains(c)), "{got}");
    // The GP of the singular sign NTK does not exist; its error names the command that works.
    let o = sgntk_line(
        "predict --kind ntk --activation sign --train {} --test {}",
        &[&tf, &xf],
    );
    assert_fails(&o, &["sgntk predict --kind nw"]);
    let o = sgntk_line(
        "predict --kind nw --activation sign --train {} --test {} --time 10",
        &[&tf, &xf],
    );
    assert_fails(&o, &["--kind nw"]);
    let o = sgntk_line("kernel --kind nw --activation sign --x {}", &[&xf]);
    assert_fails(&o, &["sgntk predict --kind nw"]);
    // A --surrogate that nothing uses is said so, once, and the result is unchanged.
    let plain = sgntk_line("kernel --kind ntk --activation erf:2 --x {}", &[&xf]);
    let warned = sgntk_line(
        "kernel --kind ntk --activation erf:2 --surrogate fast-sigmoid --x {}",
        &[&xf],
    );
    assert_eq!(stdout_matrix(&plain), stdout_matrix(&warned));
    let err = stderr(&warned);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: --surrogate fast-sigmoid:1 is ignored: --kind ntk"),
        "{err}"
    );
    let o = sgntk_line(
        "kernel --kind sgntk --activation sign --surrogate fast-sigmoid --x {}",
        &[&xf],
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let out = dir.join("gd");
    let o = sgntk_line(
        "train --activation erf:2 --mode gd --surrogate fast-sigmoid --width 8 --nets 1 \
         --steps 5 --train {} --test {} --out {}",
        &[&tf, &xf, &out],
    );
    assert_ok(&o);
    assert!(
        stderr(&o).contains("warning: --surrogate fast-sigmoid:1 is ignored: --mode gd"),
        "{}",
        stderr(&o)
    );
}

/// With stderr a pipe (as here), a training run longer than the line interval (shortened to
/// 0.05 s here; 5 s by default) reports its progress as plain lines (count, loss, elapsed time,
/// estimate), not silence and not a bar.
#[test]
fn progress_lines_in_a_pipe() {
    let dir = scratch("kinds-progress");
    let xt = circle_points(&[-2.0, -1.0, 0.3, 1.2, 2.4]);
    let yt = targets(&xt);
    let train = DMatrix::from_fn(5, 3, |i, j| if j < 2 { xt[(i, j)] } else { yt[(i, 0)] });
    let tf = write(&dir, "train.csv", &csv_of(&train, None));
    let xf = write(&dir, "test.csv", &csv_of(&xt, None));
    let out = dir.join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sgntk"))
        .args(argv(
            "train --activation sign --mode sgl --width 64 --nets 4 --steps 3000 --train {} \
             --test {} --out {}",
            &[&tf, &xf, &out],
        ))
        .env("SGNTK_PROGRESS_EVERY", "0.05")
        .output()
        .unwrap();
    assert_ok(&o);
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {err}");
    for l in &lines {
        for part in ["training steps", "/3000", "loss ", "elapsed", "eta"] {
            assert!(l.contains(part), "`{part}` not in `{l}`");
        }
    }
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}

/// `sgntk sweep` over `train` on a user CSV, a 2 × 2 grid: four folders with shell-safe names,
/// each the output of the `train` command line it records, a `sweep.csv` with the grid values
/// (integers as integers) and the losses; a second run skips the finished points; a bad flag in
/// the grid fails before any work, naming the grid point.
#[test]
fn sweep_over_train_on_user_files() {
    let dir = scratch("sweep-train");
    let xt = circle_points(&[-2.0, -1.0, 0.3, 1.2, 2.4]);
    let yt = targets(&xt);
    let train = DMatrix::from_fn(5, 3, |i, j| if j < 2 { xt[(i, j)] } else { yt[(i, 0)] });
    let tf = write(&dir, "train.csv", &csv_of(&train, Some("x0,x1,y")));
    let xf = write(&dir, "test.csv", &csv_of(&xt, None));
    let file = dir.join("sweep.toml");
    let sweep_file = |grid: &str| {
        let text = format!(
            "command = \"train\"\n[set]\nactivation = \"sign\"\nmode = \"sgl\"\n\
             train = {tf:?}\ntest = {xf:?}\nnets = 2\nsteps = 30\n[grid]\n{grid}"
        );
        std::fs::write(&file, text).unwrap();
    };
    sweep_file("width = [8, 16]\nsurrogate = [\"erf-prime\", \"fast-sigmoid:2\"]\n");
    let out = dir.join("out");
    let o = sgntk_line("sweep {} --out {}", &[&file, &out]);
    assert_ok(&o);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "surrogate-erf-prime__width-16",
            "surrogate-erf-prime__width-8",
            "surrogate-fast-sigmoid_2__width-16",
            "surrogate-fast-sigmoid_2__width-8",
        ]
    );
    for n in &names {
        let point = out.join(n);
        assert!(point.join("outputs.csv").is_file() && point.join("loss.csv").is_file());
        let line = std::fs::read_to_string(point.join("command.txt")).unwrap();
        assert!(line.starts_with("sgntk train --activation sign"), "{line}");
    }
    // The grid point's outputs are those of the command line it records.
    let alone = dir.join("alone");
    let o = sgntk_line(
        "train --activation sign --mode sgl --train {} --test {} --nets 2 --steps 30 \
         --surrogate fast-sigmoid:2 --width 8 --out {}",
        &[&tf, &xf, &alone],
    );
    assert_ok(&o);
    let read = |p: &std::path::Path| std::fs::read_to_string(p.join("outputs.csv")).unwrap();
    assert_eq!(
        read(&out.join("surrogate-fast-sigmoid_2__width-8")),
        read(&alone)
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(lines[0], "dir,surrogate,width,loss_final,loss_initial");
    let widths: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(widths, ["8", "16", "8", "16"], "{csv}");
    // Finished points are not trained again.
    let before = std::fs::metadata(out.join(&names[0]).join("loss.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_ok(&sgntk_line("sweep {} --out {}", &[&file, &out]));
    let after = std::fs::metadata(out.join(&names[0]).join("loss.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    // A bad value in the grid fails before any work, naming the point and the flag.
    let out2 = dir.join("out2");
    sweep_file("widht = [8]\n");
    let o = sgntk_line("sweep {} --out {}", &[&file, &out2]);
    assert_fails(&o, &["widht-8", "--widht"]);
    assert!(!out2.join("widht-8").exists());
}
