//! Robustness of the `sgntk` command line's files (issue 13): the resume cache never loads a
//! corrupted entry, concurrent runs on one `--out` succeed, outputs are written atomically and
//! `--out` is checked before any work, CSV inputs never lose a row to a mistaken header.

mod common;
use common::*;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Tiny Fig. 3a (regression: 2 chunks of 2 networks) and Fig. 1 (kernels, for B.3: 2 widths × 2
/// chunks of 1 network).
const TINY: &str = "
[fig3a]\nwidths = [8]\nnets = 4\nsteps = 20\nchunk = 2
[fig1]\nms = [2.0]\nwidths = [8, 32]\nnets = 2\nsteps = 6\nrecord_steps = [3]\nchunk = 1\ngrid = 12
";

/// The arguments of `figure WHICH --config CFG --out OUT --threads 1`.
fn figure_args(which: &str, cfg: &str, out: &Path) -> Vec<OsString> {
    argv(
        "figure {} --config {} --out {} --threads 1",
        &[&which, &cfg, &out],
    )
}

fn figure(which: &str, cfg: &str, out: &Path) -> Output {
    sgntk(&figure_args(which, cfg, out))
}

/// The entries of a cache directory (`<SHA-256>.json`), sorted.
fn entries(out: &Path) -> Vec<PathBuf> {
    let is_entry = |p: &Path| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.strip_suffix(".json")
            .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| is_entry(p))
        .collect();
    v.sort();
    v
}

/// Every file in `dir` (recursively) whose name marks a temporary file.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            found.extend(temporaries(&p));
        } else if p.to_string_lossy().contains(".tmp") {
            found.push(p);
        }
    }
    found
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An entry with its stored value edited and a matching checksum: what a deliberate edit (or a
/// bug that wrote bad numbers) leaves, which only the shape and finiteness checks catch.
fn reseal(text: &str, edit: impl FnOnce(&mut Value)) -> String {
    let (_, body) = text
        .trim_end()
        .strip_prefix("{\"sha256\":\"")
        .and_then(|t| t.split_once("\",\"entry\":"))
        .expect("entry format");
    let body = body.strip_suffix('}').unwrap();
    let at = body.rfind("\"value\":").unwrap() + "\"value\":".len();
    let mut value: Value = serde_json::from_str(&body[at..body.len() - 1]).unwrap();
    edit(&mut value);
    let body = format!("{}{value}}}", &body[..at]);
    format!(
        "{{\"sha256\":\"{}\",\"entry\":{body}}}\n",
        sha256_hex(&body)
    )
}

const NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// The curves of one record of an entry's value: a regression chunk's `outputs` (one per
/// network), a kernel chunk's slices at t = 0 (`slices[0]`, one per network).
fn curves(v: &mut Value) -> &mut Vec<Value> {
    let obj = v.as_object_mut().unwrap();
    if obj.contains_key("outputs") {
        return obj.get_mut("outputs").unwrap().as_array_mut().unwrap();
    }
    obj.get_mut("slices").unwrap().as_array_mut().unwrap()[0]
        .as_array_mut()
        .unwrap()
}

/// The first network's curve.
fn first_curve(v: &mut Value) -> &mut Vec<Value> {
    curves(v)[0].as_array_mut().unwrap()
}

/// Flips the lowest bit of one digit inside the stored value (a digit stays a digit).
fn flip_bit_in_value(text: &str) -> String {
    let at = text.rfind("\"value\":").unwrap();
    let pos = at + text[at..].find(|c: char| c.is_ascii_digit()).unwrap() + 3;
    let mut bytes = text.as_bytes().to_vec();
    assert!(bytes[pos].is_ascii_digit());
    bytes[pos] ^= 1;
    String::from_utf8(bytes).unwrap()
}

type Corruption = (&'static str, Box<dyn Fn(&str) -> String>);

fn corruptions() -> Vec<Corruption> {
    vec![
        ("one flipped bit", Box::new(flip_bit_in_value)),
        (
            "truncated file",
            Box::new(|t: &str| t[..t.len() / 2].to_string()),
        ),
        (
            "stored NaN",
            Box::new(|t: &str| reseal(t, |v| first_curve(v)[1] = NAN_BITS.into())),
        ),
        (
            "shortened vector",
            Box::new(|t: &str| {
                reseal(t, |v| {
                    first_curve(v).pop();
                })
            }),
        ),
        (
            "emptied vector",
            Box::new(|t: &str| reseal(t, |v| curves(v).clear())),
        ),
        (
            "network dropped",
            Box::new(|t: &str| {
                reseal(t, |v| {
                    curves(v).pop();
                })
            }),
        ),
    ]
}

/// Runs `which` once, then for every corruption of one cache entry runs it again: each rerun
/// warns on stderr, recomputes that one chunk (never loads it), writes the same CSV as the
/// uncorrupted run and restores the entry.
fn corrupted_cache_is_recomputed(which: &str, stem: &str, dir: &Path) {
    let cfg = write(dir, "tiny.toml", TINY);
    let out = dir.join("out");
    assert_ok(&figure(which, &cfg, &out));
    let reference = read(&out.join(format!("{stem}.csv")));
    let files = entries(&out);
    let n = files.len();
    assert!(n >= 2, "{files:?}");
    let pristine: Vec<String> = files.iter().map(|p| read(p)).collect();
    // The resealing helper reproduces the stored format exactly.
    assert_eq!(reseal(&pristine[0], |_| ()), pristine[0]);
    // A clean rerun resumes everything.
    let o = figure(which, &cfg, &out);
    assert_ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
    assert_eq!(json(&out.join(format!("{stem}.json")))["resumed_chunks"], n);

    for (what, corrupt) in corruptions() {
        let bad = corrupt(&pristine[0]);
        assert_ne!(bad, pristine[0], "{what}");
        std::fs::write(&files[0], &bad).unwrap();
        let o = figure(which, &cfg, &out);
        assert_ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("warning: cache entry") && err.contains("corrupted"),
            "{which}, {what}: no warning in: {err}"
        );
        let report = json(&out.join(format!("{stem}.json")));
        assert_eq!(report["trained_chunks"], 1, "{which}, {what}: {report}");
        assert_eq!(report["resumed_chunks"], n - 1, "{which}, {what}");
        assert_eq!(
            read(&out.join(format!("{stem}.csv"))),
            reference,
            "{which}, {what}: the figure changed"
        );
        assert_eq!(
            read(&files[0]),
            pristine[0],
            "{which}, {what}: not restored"
        );
    }
    assert_eq!(entries(&out), files);
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
}

#[test]
fn corrupted_regression_cache_entries_are_recomputed() {
    corrupted_cache_is_recomputed("3a", "fig3a", &scratch("corrupt-3a"));
}

#[test]
fn corrupted_kernel_cache_entries_are_recomputed() {
    // Fig. B.3 (a shortened slice used to panic in the MSE statistics).
    corrupted_cache_is_recomputed("b3", "figb3", &scratch("corrupt-b3"));
}

#[test]
fn cache_entries_carry_format_program_and_engine() {
    let dir = scratch("header");
    let cfg = write(&dir, "tiny.toml", TINY);
    let out = dir.join("out");
    assert_ok(&figure("3a", &cfg, &out));
    for p in entries(&out) {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 64, "SHA-256 file name: {name}");
        let e = json(&p);
        let text = read(&p);
        let body = text
            .trim_end()
            .split_once(",\"entry\":")
            .unwrap()
            .1
            .strip_suffix('}')
            .unwrap();
        assert_eq!(e["sha256"], sha256_hex(body));
        let h = &e["entry"]["header"];
        assert_eq!(h["format"], 2, "{h}");
        assert_eq!(
            h["program"],
            format!("sgntk {}", env!("CARGO_PKG_VERSION")),
            "{h}"
        );
        assert_eq!(h["context"]["backend"], "flex", "{h}");
        assert!(h["context"]["engine"].is_string(), "{h}");
        assert!(h["context"]["dtype"].is_string(), "{h}");
        // The file name is the hash of the canonical header and key.
        let id = serde_json::json!({"header": h, "key": e["entry"]["key"]}).to_string();
        assert_eq!(sha256_hex(&id), name);
    }
}

/// Two identical runs started at the same moment on one `--out` both succeed, and the cache then
/// holds each entry once, intact (a third run resumes every chunk).
#[test]
fn concurrent_runs_on_one_out_both_succeed() {
    let dir = scratch("concurrent");
    let cfg = write(&dir, "tiny.toml", TINY);
    for trial in 0..3 {
        let out = dir.join(format!("out{trial}"));
        let start = || {
            Command::new(env!("CARGO_BIN_EXE_sgntk"))
                .args(figure_args("3a", &cfg, &out))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        for child in [a, b] {
            let o = child.wait_with_output().unwrap();
            assert_ok(&o);
        }
        assert_eq!(entries(&out).len(), 2, "trial {trial}");
        assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
        let o = figure("3a", &cfg, &out);
        assert_ok(&o);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
        assert_eq!(json(&out.join("fig3a.json"))["resumed_chunks"], 2);
    }
}

/// `train` by gradient descent on erf:2 networks (sizes and files to follow).
const TRAIN_GD: &str = "train --activation erf:2 --mode gd";
/// The files of `train`, to be filled by [`argv`].
const FILES: &str = "--train {} --test {} --out {}";

fn train_files(dir: &Path) -> (String, String) {
    let train = write(
        dir,
        "train.csv",
        "x0,x1,y\n1,0,0.5\n0,1,-0.5\n-1,0,0.25\n0,-1,0\n",
    );
    let test = write(dir, "test.csv", "0.6,0.8\n-0.8,0.6\n");
    (train, test)
}

/// `train` writes integer steps into loss.csv, both files complete, and no temporaries.
#[test]
fn train_writes_integer_steps_and_no_temporaries() {
    let dir = scratch("train");
    let (train, test) = train_files(&dir);
    let out = dir.join("new").join("run");
    let o = sgntk_line(
        &format!("{TRAIN_GD} --width 8 --nets 2 --steps 3 {FILES}"),
        &[&train, &test, &out],
    );
    assert_ok(&o);
    let loss = read(&out.join("loss.csv"));
    let lines: Vec<&str> = loss.lines().collect();
    assert_eq!(lines[0], "step,loss");
    for (t, l) in lines[1..].iter().enumerate() {
        assert!(
            l.starts_with(&format!("{t},")),
            "loss.csv line {}: {l}",
            t + 2
        );
    }
    assert_eq!(lines.len(), 5);
    assert_eq!(read(&out.join("outputs.csv")).lines().count(), 3);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

/// An unusable `--out` is reported at once, before any training or measuring (the sizes here
/// would take minutes).
#[test]
fn unusable_out_fails_before_any_work() {
    let dir = scratch("late-out");
    let (train, test) = train_files(&dir);
    let file = write(&dir, "a-file", "x");
    let start = Instant::now();
    let huge_train = |out: &str| {
        let line = format!("{TRAIN_GD} --width 2000 --nets 50 --steps 1000000 {FILES}");
        sgntk_line(&line, &[&train, &test, &out])
    };
    assert_fails(&huge_train(&file), &["a-file", "not a directory"]);
    assert_fails(&huge_train(&format!("{file}/sub")), &["a-file"]);
    let cfg = write(
        &dir,
        "big.toml",
        "[fig3a]\nwidths = [2000]\nnets = 64\nsteps = 1000000\nchunk = 8\n",
    );
    assert_fails(
        &sgntk(&["figure", "3a", "--config", &cfg, "--out", &file]),
        &["a-file", "not a directory"],
    );
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let huge_bench = |out: &dyn AsRef<OsStr>| {
        sgntk_line(
            "bench --widths 3000 --nets 100 --steps 100000 --out {}",
            &[out],
        )
    };
    assert_fails(&huge_bench(&folder), &["folder", "is a directory"]);
    assert_fails(&huge_bench(&format!("{file}/bench.csv")), &["a-file"]);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}: the checks came after the work",
        start.elapsed()
    );
}

/// `bench --out` creates the folder of its file.
#[test]
fn bench_out_creates_its_folder() {
    let dir = scratch("bench");
    let out = dir.join("a").join("b").join("bench.csv");
    let o = sgntk_line(
        "bench --widths 4 --nets 1 --steps 1 --engines fused --generic-width 0 --kernel-points 20 --out {}",
        &[&out],
    );
    assert_ok(&o);
    let t = read(&out);
    assert!(
        t.starts_with(
            "case,width,nets,ms,gflops,matmul_gflops,changed_units_per_step,\
             peak_fraction_1_thread,peak_fraction_all_threads\n"
        ),
        "{t}"
    );
    assert!(t.lines().count() >= 2, "{t}");
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

/// A one-column CSV keeps its first row behind a byte-order mark; an unparsable first cell that
/// is not a name is an error, not a dropped "header".
#[test]
fn one_column_csv_never_loses_its_first_row() {
    let dir = scratch("bom");
    let kernel = |x: &str| sgntk_line("kernel --kind nngp --activation erf:2 --x {}", &[&x]);
    let rows = |o: &Output| {
        assert_ok(o);
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let bom = write(&dir, "bom.csv", "\u{feff}0.5\n1\n-2\n");
    assert_eq!(rows(&kernel(&bom)), 3);
    let named = write(&dir, "named.csv", "\u{feff}x\n0.5\n1\n-2\n");
    assert_eq!(rows(&kernel(&named)), 3);
    let plain = write(&dir, "plain.csv", "0.5\n1\n-2\n");
    assert_eq!(
        kernel(&bom).stdout,
        kernel(&plain).stdout,
        "the byte-order mark changed the numbers"
    );
    let mangled = write(&dir, "mangled.csv", "0.5x\n1\n-2\n");
    assert_fails(&kernel(&mangled), &["mangled.csv", "line 1", "`0.5x`"]);
    let symbol = write(&dir, "symbol.csv", "?\n1\n-2\n");
    assert_fails(&kernel(&symbol), &["symbol.csv", "line 1"]);
}

// ---- Issue 25: outputs to devices, FIFOs and links; failed runs; directories --------------------

/// `kernel` of three circle points, writing to `out`.
fn kernel_to(x: &str, out: &dyn AsRef<OsStr>) -> Output {
    sgntk_line(
        "kernel --kind nngp --activation erf:2 --x {} --out {}",
        &[&x, out],
    )
}

const POINTS: &str = "0.6,0.8\n-0.8,0.6\n0,1\n";

/// `--out -` and `--out /dev/stdout` write the CSV to stdout; a FIFO and a character device are
/// written directly (never replaced by a regular file); a symbolic link is written through, to
/// its target, and stays a link.
#[test]
fn out_writes_through_streams_devices_and_links() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("out-targets");
    let x = write(&dir, "x.csv", POINTS);
    let file = dir.join("k.csv");
    assert_ok(&kernel_to(&x, &file));
    let expected = read(&file);
    assert_eq!(expected.lines().count(), 3);
    let o = kernel_to(&x, &"-");
    assert_ok(&o);
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected, "--out -");
    // `/dev/stdout` and `/dev/null` in a private mount namespace with its own /dev (a bug that
    // replaced them would replace only those copies; needs root, else skipped).
    let private_dev = |out: &str| {
        Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(
                "mount -t tmpfs none /dev && ln -s /proc/self/fd/1 /dev/stdout && \
                 mknod /dev/null c 1 3 && \"$0\" \"$@\" && ls -l /dev/stdout /dev/null >&2",
            )
            .arg(env!("CARGO_BIN_EXE_sgntk"))
            .args([
                "kernel",
                "--kind",
                "nngp",
                "--activation",
                "erf:2",
                "--x",
                x.as_str(),
            ])
            .args(["--out", out])
            .output()
    };
    match private_dev("/dev/stdout") {
        Ok(o) if o.status.success() => {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                expected,
                "--out /dev/stdout"
            );
            let listing = String::from_utf8_lossy(&o.stderr);
            assert!(
                listing.contains("/dev/stdout -> /proc/self/fd/1"),
                "{listing}"
            );
            let o = private_dev("/dev/null").unwrap();
            assert_ok(&o);
            let listing = String::from_utf8_lossy(&o.stderr);
            let null = listing.lines().find(|l| l.ends_with("/dev/null"));
            assert!(null.is_some_and(|l| l.starts_with('c')), "{listing}");
        }
        other => eprintln!("skipped the /dev/stdout case (needs root and unshare -m): {other:?}"),
    }

    // A link to a file in another directory: the target is replaced, the link stays.
    let targets = dir.join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    let target = targets.join("t.csv");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_ok(&kernel_to(&x, &link));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(read(&target), expected);
    // A relative link to a link, and a dangling link (its target is created).
    let chain = dir.join("chain.csv");
    std::os::unix::fs::symlink("link.csv", &chain).unwrap();
    std::fs::write(&target, "old\n").unwrap();
    assert_ok(&kernel_to(&x, &chain));
    assert_eq!(read(&target), expected);
    let dangling = dir.join("dangling.csv");
    std::os::unix::fs::symlink(targets.join("new.csv"), &dangling).unwrap();
    assert_ok(&kernel_to(&x, &dangling));
    assert!(dangling
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&targets.join("new.csv")), expected);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));

    // A FIFO: read while sgntk writes; it stays a FIFO.
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        assert_ok(&kernel_to(&x, &fifo));
        assert_eq!(reader.join().unwrap(), expected);
        assert!(fifo.metadata().unwrap().file_type().is_fifo());
    } else {
        eprintln!("skipped the FIFO case: mkfifo failed");
    }

    // A character device: a private node of /dev/null's device (1, 3), which needs root; the
    // system's /dev/null is never touched by this test.
    let null = dir.join("null");
    let made = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status();
    if made.is_ok_and(|s| s.success()) {
        assert_ok(&kernel_to(&x, &null));
        assert!(null.metadata().unwrap().file_type().is_char_device());
        assert_eq!(std::fs::read(&null).unwrap(), b"");
        // predict writes its CSV the same way
        let t = write(&dir, "t.csv", "0.6,0.8,1\n-0.8,0.6,-1\n");
        let o = sgntk_line(
            "predict --kind ntk --activation erf:2 --train {} --test {} --out {}",
            &[&t, &x, &null],
        );
        assert_ok(&o);
        assert!(null.metadata().unwrap().file_type().is_char_device());
    } else {
        eprintln!("skipped the character-device case: mknod needs root");
    }
    // A directory is refused before any work.
    assert_fails(&kernel_to(&x, &targets), &["targets", "is a directory"]);
}

/// Tiny Fig. 3a whose training diverges (no chunk is ever saved).
const DIVERGING: &str = "[fig3a]\nwidths = [8]\nnets = 4\nsteps = 20\nchunk = 2\nlr = 1e308\n";

/// A failed figure run leaves no run record (nor an empty `--out`), so the corrected command on
/// the same `--out` runs; a stale record beside a cache without chunks never blocks.
#[test]
fn failed_figure_runs_do_not_block_the_next() {
    let dir = scratch("failed-run");
    let bad = write(&dir, "bad.toml", DIVERGING);
    let good = write(&dir, "good.toml", &DIVERGING.replace("lr = 1e308\n", ""));
    let out = dir.join("out");
    let o = figure("3a", &bad, &out);
    assert_fails(&o, &[]);
    assert!(!out.exists(), "the failed run left {}", out.display());
    // The same on an existing --out: no record, no chunk.
    std::fs::create_dir_all(&out).unwrap();
    assert_fails(&figure("3a", &bad, &out), &[]);
    assert!(!out.join("cache").join("fig3a.run.json").exists());
    assert_ok(&figure("3a", &good, &out));
    assert!(out.join("cache").join("fig3a.run.json").exists());

    // A record an older version wrote before failing (no chunk in the cache) is replaced.
    let stale = dir.join("stale");
    std::fs::create_dir_all(stale.join("cache")).unwrap();
    std::fs::write(
        stale.join("cache").join("fig3a.run.json"),
        "{\"figure\": \"fig3a\", \"settings\": {\"lr\": 1e308}}",
    )
    .unwrap();
    assert_ok(&figure("3a", &good, &stale));
    assert_eq!(read(&stale.join("fig3a.csv")), read(&out.join("fig3a.csv")));
    // With chunks saved, other settings are still refused.
    let other = write(
        &dir,
        "other.toml",
        &DIVERGING.replace("lr = 1e308", "lr = 0.05"),
    );
    assert_fails(&figure("3a", &other, &out), &["other settings", "lr"]);
}

/// Invalid inputs fail before `--out` is created: `train`, `figure` and `sweep` leave nothing.
#[test]
fn invalid_inputs_create_no_out_directory() {
    let dir = scratch("no-out");
    let (train, test) = train_files(&dir);
    let bad_test = write(&dir, "bad.csv", "1,2\nx,y\n");
    let out = dir.join("out");
    let o = sgntk_line(
        &format!("{TRAIN_GD} --width 8 --nets 2 --steps 3 {FILES}"),
        &[&train, &bad_test, &out],
    );
    assert_fails(&o, &["bad.csv"]);
    let o = sgntk_line(
        &format!("{TRAIN_GD} --width 8 --nets 2 --steps 3 --lr -1 {FILES}"),
        &[&train, &test, &out],
    );
    assert_fails(&o, &["learning rate"]);
    let cfg = write(&dir, "c.toml", "[fig1]\nrecord_steps = [3, 3]\nsteps = 6\n");
    assert_fails(&figure("1", &cfg, &out), &["record_steps", "twice"]);
    let sweep = write(&dir, "s.toml", "figure = \"3a\"\n[grid]\nnets = [0]\n");
    assert_fails(&sgntk_line("sweep {} --out {}", &[&sweep, &out]), &["nets"]);
    assert!(!out.exists(), "{} was created", out.display());
}

/// A cache entry replaced by a directory is moved aside and recomputed.
#[test]
fn cache_entry_replaced_by_a_directory_is_recomputed() {
    let dir = scratch("entry-dir");
    let cfg = write(&dir, "tiny.toml", TINY);
    let out = dir.join("out");
    assert_ok(&figure("3a", &cfg, &out));
    let reference = read(&out.join("fig3a.csv"));
    let files = entries(&out);
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::create_dir_all(files[0].join("inside")).unwrap();
    let o = figure("3a", &cfg, &out);
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("moved it to"), "{err}");
    assert!(files[0].is_file());
    assert_eq!(json(&out.join("fig3a.json"))["trained_chunks"], 1);
    assert_eq!(read(&out.join("fig3a.csv")), reference);
}

/// Messages that quote input stay one short line: a 1 MB CSV cell, a 100 000-character
/// activation or path, an 800 k-character TOML line, CR-only line ends and NUL bytes.
#[test]
fn error_messages_quote_input_short_and_escaped() {
    let dir = scratch("long-input");
    let short = |o: &Output, needles: &[&str]| {
        assert_fails(o, needles);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.len() < 1000, "{} bytes: {}", err.len(), &err[..300]);
        assert!(!err.trim_end().contains(['\r', '\0']), "{err:?}");
    };
    let kernel = |x: &dyn AsRef<OsStr>, extra: &str| {
        sgntk_line(
            &format!("kernel --kind nngp --activation erf:2 --x {{}} {extra}"),
            &[x],
        )
    };
    let cell = write(&dir, "cell.csv", &format!("1,{}\n", "7x".repeat(500_000)));
    short(&kernel(&cell, ""), &["cell.csv", "line 1", "…"]);
    let cr = write(&dir, "cr.csv", "1,2\r3,4\r5,x\r");
    short(&kernel(&cr, ""), &["cr.csv", "\\r"]);
    let nul = write(&dir, "nul.csv", "1,2\n3,\x004\n");
    short(&kernel(&nul, ""), &["nul.csv", "line 2", "\\u{0}4"]);
    let long = "q".repeat(100_000);
    let o = sgntk_line("kernel --kind nngp --activation {} --x {}", &[&long, &cell]);
    short(&o, &["activation", "…"]);
    short(&kernel(&dir.join(&long), ""), &["…"]);
    let toml = write(
        &dir,
        "long.toml",
        &format!("[fig3a]\nsteps = {}\n", "9".repeat(800_000)),
    );
    short(&figure("3a", &toml, &dir.join("out")), &["long.toml"]);
    let toml = write(&dir, "cr.toml", "[fig3a]\rsteps = x\r");
    short(&figure("3a", &toml, &dir.join("out")), &["cr.toml"]);
}

/// `sgntk slurm` quotes every value of its scripts and refuses line breaks in them (script
/// injection); a `sbatch` whose output is not `sbatch --parsable`'s job id is an error.
#[test]
fn slurm_scripts_resist_injection_and_sbatch_output_is_parsed_strictly() {
    let dir = scratch("slurm-inject");
    let out = dir.join("run");
    let slurm = |partition: &str, out: &Path, path: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sgntk"));
        c.args(["slurm", "--shards", "2", "--partition", partition]);
        if path.is_none() {
            c.arg("--print");
        }
        c.args(["figure", "b1", "--out"]).arg(out);
        if let Some(p) = path {
            let old = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![p.to_path_buf()];
            paths.extend(std::env::split_paths(&old));
            c.env("PATH", std::env::join_paths(paths).unwrap());
        }
        c.output().unwrap()
    };
    for bad in ["cpu\ntouch injected", "cpu\rx"] {
        assert_fails(
            &slurm(bad, &out, None),
            &["--partition", "control character"],
        );
    }
    assert_fails(
        &slurm("cpu", &dir.join("a\nb"), None),
        &["control character"],
    );
    assert!(!out.exists() && !dir.join("a\nb").exists());
    // Shell metacharacters are quoted: the script parses and runs nothing of them.
    let o = slurm("cpu;touch injected $(touch injected2)", &out, None);
    assert_ok(&o);
    for script in ["job.sbatch", "assemble.sbatch"] {
        let path = out.join("slurm").join(script);
        let check = Command::new("bash").arg("-n").arg(&path).status().unwrap();
        assert!(check.success(), "bash -n {script}: {}", read(&path));
        let text = read(&path);
        assert!(
            text.contains("#SBATCH --partition='cpu;touch injected $(touch injected2)'\n"),
            "{text}"
        );
    }
    // Fake sbatch programs: their stdout decides.
    for (printed, ok) in [
        ("", false),
        ("Submitted batch job 17", false),
        ("17\n18", false),
        ("17", true),
        ("4242;cluster", true),
    ] {
        let bin = dir.join(format!("bin-{}", printed.len()));
        std::fs::create_dir_all(&bin).unwrap();
        let fake = bin.join("sbatch");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'slurm 23'; exit 0; }}\nprintf '%s\\n' '{printed}'\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let o = slurm("cpu", &out, Some(&bin));
        if ok {
            assert_ok(&o);
            let id = printed.split(';').next().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim(),
                format!("{id} {id}")
            );
        } else {
            assert_fails(&o, &["sbatch", "not a job id"]);
        }
    }
}
