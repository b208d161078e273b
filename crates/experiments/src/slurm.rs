//! `sgntk slurm`: a sharded run as a Slurm job array plus an assemble job.
//!
//! `OUT/slurm/job.sbatch` is an array of N tasks; task K runs the command with `--shard K/N` (see
//! [`crate::shard`]) and logs to `OUT/slurm/task-K.log`. `OUT/slurm/assemble.sbatch` runs the same
//! command without a shard once every task has succeeded (`--dependency=afterok:<array id>`): it
//! finds every chunk in `OUT/cache/` and writes the figure. Re-submitting after a failed task
//! trains only the chunks that are still missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ExpError;

/// Resources and scheduling of the job array.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlurmOptions {
    /// Number of array tasks (shards).
    pub shards: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's formats, e.g. `2:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task` (also the run's `--threads`).
    pub cpus_per_task: usize,
    /// `--mem` (e.g. `4G`).
    pub mem: Option<String>,
}

/// The two job scripts of a sharded run.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmScripts {
    /// The job array.
    pub array: String,
    /// The assemble job.
    pub assemble: String,
}

/// `s` quoted for a POSIX shell.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn header(name: &str, log: &Path, o: &SlurmOptions, cpus: usize) -> String {
    let mut h = format!(
        "#!/bin/bash\n#SBATCH --job-name={}\n#SBATCH --output={}\n#SBATCH --cpus-per-task={cpus}\n",
        quote(name),
        quote(&log.display().to_string()),
    );
    for (flag, v) in [
        ("partition", &o.partition),
        ("time", &o.time),
        ("mem", &o.mem),
    ] {
        if let Some(v) = v {
            h.push_str(&format!("#SBATCH --{flag}={}\n", quote(v)));
        }
    }
    h
}

/// Fails unless `value` (of `what`) can go into a script line: `#SBATCH` lines end at a line
/// break, so a value with a newline or any other control character would split its line and
/// put the rest outside the header (script injection). Every value is also shell-quoted.
fn check_line(what: &str, value: &str) -> Result<(), ExpError> {
    if value.chars().any(char::is_control) {
        return Err(ExpError::Usage(format!(
            "{what} `{}` holds a newline or another control character, which a Slurm script cannot carry",
            sgntk_model::error::excerpt(value)
        )));
    }
    Ok(())
}

/// The scripts for `command` (the program and its arguments, without `--shard`/`--threads`),
/// writing its logs to `slurm_dir`. Every value is shell-quoted; option values, the job name
/// and the paths must not hold line breaks or other control characters (an error).
pub fn scripts(
    name: &str,
    command: &[String],
    slurm_dir: &Path,
    o: &SlurmOptions,
) -> Result<SlurmScripts, ExpError> {
    check_line("the job name", name)?;
    check_line("the output directory", &slurm_dir.display().to_string())?;
    for (flag, v) in [
        ("--partition", &o.partition),
        ("--time", &o.time),
        ("--mem", &o.mem),
    ] {
        if let Some(v) = v {
            check_line(flag, v)?;
        }
    }
    for arg in command {
        check_line("an argument", arg)?;
    }
    let cmd: Vec<String> = command.iter().map(|a| quote(a)).collect();
    let cmd = cmd.join(" ");
    let mut array = header(name, &slurm_dir.join("task-%a.log"), o, o.cpus_per_task);
    array.push_str(&format!("#SBATCH --array=0-{}\n", o.shards - 1));
    array.push_str(&format!(
        "set -euo pipefail\nexec {cmd} --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\" --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"\n",
        o.cpus_per_task, o.shards
    ));
    let mut assemble = header(
        &format!("{name}-assemble"),
        &slurm_dir.join("assemble.log"),
        o,
        o.cpus_per_task,
    );
    assemble.push_str(&format!(
        "set -euo pipefail\nexec {cmd} --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
        o.cpus_per_task
    ));
    Ok(SlurmScripts { array, assemble })
}

/// Writes the scripts to `slurm_dir` (created) and returns their paths (array, assemble).
pub fn write_scripts(slurm_dir: &Path, s: &SlurmScripts) -> Result<(PathBuf, PathBuf), ExpError> {
    std::fs::create_dir_all(slurm_dir).map_err(|e| ExpError::output(slurm_dir, e))?;
    let array = slurm_dir.join("job.sbatch");
    let assemble = slurm_dir.join("assemble.sbatch");
    crate::io::write_atomic(&array, s.array.as_bytes())?;
    crate::io::write_atomic(&assemble, s.assemble.as_bytes())?;
    Ok((array, assemble))
}

/// Whether `sbatch` is on the PATH.
pub fn have_sbatch() -> bool {
    Command::new("sbatch")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Submits the array, then the assemble job depending on it; returns both job ids.
pub fn submit(array: &Path, assemble: &Path) -> Result<(String, String), ExpError> {
    let run = |args: &[&str]| -> Result<String, ExpError> {
        let o = Command::new("sbatch")
            .args(args)
            .output()
            .map_err(|e| ExpError::Usage(format!("could not run sbatch: {e}")))?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(ExpError::Usage(format!(
                "sbatch {} failed: {}",
                args.join(" "),
                err.trim().replace('\n', " ")
            )));
        }
        parse_job_id(&String::from_utf8_lossy(&o.stdout)).ok_or_else(|| {
            ExpError::Usage(format!(
                "sbatch {} printed `{}`, not a job id (`sbatch --parsable` prints `ID` or `ID;CLUSTER`)",
                args.join(" "),
                sgntk_model::error::excerpt(String::from_utf8_lossy(&o.stdout).trim())
            ))
        })
    };
    let a = array.display().to_string();
    let id = run(&["--parsable", &a])?;
    let dep = format!("--dependency=afterok:{id}");
    let b = assemble.display().to_string();
    let id2 = run(&["--parsable", &dep, &b])?;
    Ok((id, id2))
}

/// The job id in `sbatch --parsable` output: exactly one line `ID` or `ID;CLUSTER`, ID a
/// positive decimal number (anything else — nothing, `Submitted batch job 17`, several lines —
/// is `None`).
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let line = stdout.strip_suffix('\n').unwrap_or(stdout);
    let (id, cluster) = match line.split_once(';') {
        Some((id, cluster)) => (id, Some(cluster)),
        None => (line, None),
    };
    let id_ok = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
    let cluster_ok = cluster.is_none_or(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    (id_ok && cluster_ok && id.parse::<u64>().is_ok_and(|n| n > 0)).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_each_shard_then_assemble() {
        let o = SlurmOptions {
            shards: 32,
            partition: Some("cpu".into()),
            time: None,
            cpus_per_task: 4,
            mem: Some("8G".into()),
        };
        let cmd: Vec<String> = ["/opt/sgntk", "figure", "3a", "--out", "/data/my run"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = scripts("sgntk-fig3a", &cmd, Path::new("/data/my run/slurm"), &o).unwrap();
        assert!(s.array.contains("#SBATCH --array=0-31\n"), "{}", s.array);
        assert!(s.array.contains("#SBATCH --partition=cpu\n"));
        assert!(s.array.contains("#SBATCH --mem=8G\n"));
        assert!(!s.array.contains("--time"));
        assert!(s
            .array
            .contains("#SBATCH --output='/data/my run/slurm/task-%a.log'"));
        assert!(s
            .array
            .contains("exec /opt/sgntk figure 3a --out '/data/my run' --threads \"${SLURM_CPUS_PER_TASK:-4}\" --shard \"${SLURM_ARRAY_TASK_ID}/32\""));
        assert!(!s.assemble.contains("--shard") && !s.assemble.contains("--array"));
        assert!(s.assemble.contains("assemble.log"));
        assert_eq!(quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn values_with_line_breaks_are_refused_and_job_ids_parsed_strictly() {
        let cmd: Vec<String> = vec!["/opt/sgntk".into(), "figure".into()];
        let dir = Path::new("/data/run/slurm");
        let with = |partition: &str| SlurmOptions {
            shards: 2,
            partition: Some(partition.into()),
            cpus_per_task: 1,
            ..SlurmOptions::default()
        };
        for bad in ["cpu\ntouch injected", "cpu\rx", "a\0b"] {
            let e = scripts("n", &cmd, dir, &with(bad)).unwrap_err().to_string();
            assert!(e.contains("--partition") && !e.contains('\n'), "{e}");
        }
        let e = scripts("n", &cmd, Path::new("/a\nb/slurm"), &with("cpu")).unwrap_err();
        assert!(e.to_string().contains("output directory"), "{e}");
        let mut args = cmd.clone();
        args.push("a\nb".into());
        assert!(scripts("n", &args, dir, &with("cpu")).is_err());
        // shell metacharacters are quoted, not refused
        let s = scripts("n", &cmd, dir, &with("cpu;touch x $(id)")).unwrap();
        assert!(
            s.array
                .contains("#SBATCH --partition='cpu;touch x $(id)'\n"),
            "{}",
            s.array
        );
        for (out, id) in [
            ("17\n", Some("17")),
            ("17", Some("17")),
            ("4242;cluster-a\n", Some("4242")),
            ("", None),
            ("\n", None),
            ("Submitted batch job 17\n", None),
            ("17\n18\n", None),
            ("0\n", None),
            ("17;\n", None),
            (" 17\n", None),
            ("-3\n", None),
        ] {
            assert_eq!(parse_job_id(out).as_deref(), id, "{out:?}");
        }
    }
}
