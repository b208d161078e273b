//! Runs beyond one process: `--shard K/N` (every chunk trained exactly once across shards, the
//! assembled figure identical to an unsharded run, byte for byte), concurrent shards on one output
//! directory, refusal of chunks from other settings, `sgntk sweep`, and the scripts of
//! `sgntk slurm --print`.

mod common;
use common::*;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Two widths of different cost, 7 chunks each, few steps: shards must balance and cover them.
const SMALL: &str = "[b2]\nwidths = [16, 48]\nnets = 7\nsteps = 150\nchunk = 1\n";

/// A scratch directory `name` holding [`SMALL`] as `c.toml`; returns both paths.
fn small_config(name: &str) -> (Scratch, PathBuf) {
    let dir = scratch(name);
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, SMALL).unwrap();
    (dir, cfg)
}

/// `figure b2 --config CFG --out OUT --seed 5`, followed by `extra`.
fn figure(out: &Path, cfg: &Path, extra: &[&str]) -> Output {
    let mut args = argv("figure b2 --config {} --out {} --seed 5", &[&cfg, &out]);
    args.extend(extra.iter().map(OsString::from));
    sgntk(&args)
}

fn chunk_files(out: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(out.join("cache")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".run.json"))
        .collect();
    v.sort();
    v
}

#[test]
fn sharded_runs_assemble_to_the_unsharded_figure_byte_for_byte() {
    let (dir, cfg) = small_config("shards");
    let whole = dir.join("whole");
    assert_ok(&figure(&whole, &cfg, &["--threads", "2"]));
    let want_csv = std::fs::read(whole.join("figb2.csv")).unwrap();
    let want = json(&whole.join("figb2.json"));
    let all_chunks = chunk_files(&whole);
    assert_eq!(all_chunks.len(), 14);
    for n in [2usize, 4, 7] {
        let out = dir.join(format!("n{n}"));
        let mut seen = 0;
        for k in 0..n {
            let shard = format!("{k}/{n}");
            let before = chunk_files(&out).len();
            let o = figure(&out, &cfg, &["--shard", &shard, "--threads", "1"]);
            assert_ok(&o);
            assert!(
                !out.join("figb2.json").exists(),
                "a shard must not write the figure"
            );
            let after = chunk_files(&out).len();
            assert!(after > before, "shard {shard} trained nothing");
            seen = after;
        }
        assert_eq!(seen, 14, "{n} shards cover every chunk exactly once");
        assert_eq!(
            chunk_files(&out),
            all_chunks,
            "same chunk files as the unsharded run"
        );
        // assemble: nothing left to train
        let o = figure(&out, &cfg, &[]);
        assert_ok(&o);
        let got = json(&out.join("figb2.json"));
        assert_eq!(got["trained_chunks"], 0, "n = {n}");
        assert_eq!(got["resumed_chunks"], 14);
        assert_eq!(got["summary"], want["summary"], "n = {n}");
        assert_eq!(got["settings"], want["settings"]);
        assert_eq!(
            std::fs::read(out.join("figb2.csv")).unwrap(),
            want_csv,
            "n = {n}"
        );
    }
}

#[test]
fn concurrent_shards_on_one_directory_write_each_chunk_once() {
    let (dir, cfg) = small_config("concurrent");
    let out = dir.join("out");
    // the same shard twice and the other shard, all started together
    std::thread::scope(|scope| {
        let handles: Vec<_> = ["0/2", "1/2", "0/2"]
            .into_iter()
            .map(|s| {
                let (out, cfg) = (&out, &cfg);
                scope.spawn(move || (s, figure(out, cfg, &["--threads", "1", "--shard", s])))
            })
            .collect();
        for h in handles {
            let (s, o) = h.join().unwrap();
            assert!(
                o.status.success(),
                "shard {s}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    });
    assert_eq!(chunk_files(&out).len(), 14);
    let leftovers: Vec<_> = std::fs::read_dir(out.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let o = figure(&out, &cfg, &[]);
    assert_ok(&o);
    let j = json(&out.join("figb2.json"));
    assert_eq!(j["trained_chunks"], 0);
    assert_eq!(j["resumed_chunks"], 14);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("corrupted"), "{stderr}");
}

#[test]
fn chunks_of_other_settings_are_refused() {
    let (dir, cfg) = small_config("refuse");
    let out = dir.join("out");
    assert_ok(&figure(&out, &cfg, &["--shard", "0/3"]));
    let other = dir.join("other.toml");
    std::fs::write(&other, SMALL.replace("steps = 150", "steps = 151")).unwrap();
    for extra in [&["--shard", "1/3"][..], &[][..]] {
        let o = figure(&out, &other, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("other settings") && err.contains("steps"),
            "{err}"
        );
    }
    // another seed is another experiment too; the message names a free folder for it
    let o = sgntk_line("figure b2 --config {} --out {} --seed 6", &[&cfg, &out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("other settings") && err.contains("seed"),
        "{err}"
    );
    let suggested = format!("--out {}", dir.join("out-seed6").display());
    assert!(err.contains(&suggested), "{err}");
    for bad in ["2/2", "x", "1/0"] {
        let o = figure(&out, &cfg, &["--shard", bad]);
        assert_eq!(o.status.code(), Some(2), "--shard {bad}");
    }
}

#[test]
fn sweep_runs_every_grid_point_and_tabulates_them() {
    let dir = scratch("sweep");
    let file = dir.join("sweep.toml");
    std::fs::write(
        &file,
        "figure = \"b2\"\n[set]\nnets = 3\nsteps = 100\nchunk = 1\n[grid]\nwidths = [[16], [32]]\nkappa = [0.2, 1.0]\n",
    )
    .unwrap();
    let out = dir.join("out");
    let sweep = || sgntk_line("sweep {} --out {}", &[&file, &out]);
    assert_ok(&sweep());
    let dirs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(dirs.len(), 4);
    for d in &dirs {
        assert!(
            d.path().join("figb2.json").exists(),
            "{}",
            d.path().display()
        );
    }
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    for col in [
        "dir",
        "kappa",
        "widths",
        "widths.0.coverage",
        "widths.0.std_ratio",
    ] {
        assert!(header.contains(&col), "{col} missing in {header:?}");
    }
    // κ = 0.2 rows: GP std is 0.2 × the κ = 1 one, so the sampling floor differs
    let col = header.iter().position(|h| *h == "kappa").unwrap();
    let kappas: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(kappas.iter().filter(|k| **k == "0.2").count(), 2);
    // a bad grid fails before any work
    std::fs::write(&file, "figure = \"b2\"\n[grid]\nnets = [0]\n").unwrap();
    assert_eq!(sweep().status.code(), Some(2));
}

#[test]
fn slurm_print_writes_an_array_and_an_assemble_job() {
    let dir = scratch("slurm");
    let out = dir.join("run");
    let o = sgntk_line(
        "slurm --shards 32 --cpus-per-task 2 --partition cpu \
         --print figure 3a --preset paper --out {}",
        &[&out],
    );
    assert_ok(&o);
    let job = std::fs::read_to_string(out.join("slurm/job.sbatch")).unwrap();
    let asm = std::fs::read_to_string(out.join("slurm/assemble.sbatch")).unwrap();
    assert!(job.contains("#SBATCH --array=0-31"), "{job}");
    assert!(job.contains("#SBATCH --partition=cpu"));
    assert!(
        job.contains("--shard \"${SLURM_ARRAY_TASK_ID}/32\""),
        "{job}"
    );
    assert!(job.contains(" figure 3a --preset paper "), "{job}");
    assert!(job.contains(&format!("--out {}", out.display())), "{job}");
    assert!(!asm.contains("--shard"), "{asm}");
    assert!(asm.contains(" figure 3a --preset paper "));
    let o = sgntk(&["slurm", "--shards", "0", "--print", "figure", "3a"]);
    assert_eq!(o.status.code(), Some(2));
}
