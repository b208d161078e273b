//! Helpers shared by the CLI tests: run the `sgntk` binary, scratch directories, files, and the
//! one-line-error contract.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `sgntk` binary built for these tests.
pub fn sgntk<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgntk"))
        .args(args)
        .output()
        .expect("run sgntk")
}

/// The arguments of the command line `line`: its whitespace-separated words, with each word `{}`
/// replaced by the next of `values` whole (so paths may hold spaces).
pub fn argv(line: &str, values: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    let mut values = values.iter();
    let args = line
        .split_whitespace()
        .map(|word| match word {
            "{}" => {
                let value: &OsStr = values.next().expect("fewer values than `{}`").as_ref();
                value.to_os_string()
            }
            _ => OsString::from(word),
        })
        .collect();
    assert!(
        values.next().is_none(),
        "more values than `{{}}` in `{line}`"
    );
    args
}

/// Runs `sgntk` with the command line `line`, its `{}` filled from `values` (see [`argv`]).
pub fn sgntk_line(line: &str, values: &[&dyn AsRef<OsStr>]) -> Output {
    sgntk(&argv(line, values))
}

/// A fresh scratch directory for one test (unique per test process and name), removed when the
/// test ends, and kept when it fails so that its files can be inspected.
pub fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("sgntk-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// A directory removed on drop unless the thread is panicking (see [`scratch`]).
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for Scratch {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Asserts exit status 2 and a single stderr line containing every `needle`.
pub fn assert_fails(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

/// Asserts success, showing stderr otherwise.
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Parses a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
