//! `sgntk sweep`: one figure, or one of `train` / `predict` / `kernel` on the user's own files,
//! over a grid of settings. Every grid point runs in its own sub-directory (a figure run is
//! resumable and shardable as always; a command's finished point is skipped when the sweep runs
//! again), and `OUT/sweep.csv` has one row per grid point with the grid values and the figure's
//! summary numbers (or the command's losses) as columns. Sub-directories have shell-safe names,
//! `kappa-0.2__widths-20` (`key-value` pairs joined by `__`; other characters become `_`).
//!
//! ```toml
//! figure = "3a"          # the figure kind
//! preset = "quick"       # optional (default quick)
//! [set]                  # optional: fixed overrides of the figure's settings table
//! steps = 1000
//! [grid]                 # the Cartesian product of these lists; `seed` is the network seed
//! widths = [[20], [100]]
//! kappa = [0.2, 1.0]
//! seed = [0, 1]
//! ```
//!
//! A command sweep names the subcommand and gives its flags (without `--`; `true` for a flag
//! without a value); `--out` is the grid point's folder (`train`) or `FOLDER/predict.csv`:
//!
//! ```toml
//! command = "train"
//! [set]
//! activation = "sign"
//! mode = "sgl"
//! train = "data/train.csv"
//! test = "data/test.csv"
//! nets = 10
//! steps = 2000
//! [grid]
//! width = [100, 500]
//! surrogate = ["erf-prime", "fast-sigmoid:2"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::io::{Cell, Table};
use crate::settings::{one_line, Preset, Settings};

/// The subcommands a sweep can run over the user's files.
const COMMANDS: [&str; 3] = ["train", "predict", "kernel"];

/// A parsed sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Figure kind (`1`, `2`, `3a`, `3b`, `b1` … `b4`), for a sweep of a figure.
    #[serde(default)]
    pub figure: Option<String>,
    /// Or a subcommand (`train`, `predict`, `kernel`) run with the flags of `[set]` and `[grid]`.
    #[serde(default)]
    pub command: Option<String>,
    /// Preset the settings start from.
    #[serde(default = "quick")]
    pub preset: Preset,
    /// Fixed overrides of the figure's settings table.
    #[serde(default)]
    pub set: toml::Table,
    /// Lists of values; the sweep runs every combination.
    pub grid: BTreeMap<String, Vec<toml::Value>>,
}

/// The most grid points a sweep runs (each is a figure run with its own directory).
pub const MAX_GRID_POINTS: usize = 10_000;

fn quick() -> Preset {
    Preset::Quick
}

/// One grid point: its values (in key order) and where it is written.
#[derive(Clone, Debug)]
pub struct GridPoint {
    /// `key = value` of every grid key.
    pub values: Vec<(String, toml::Value)>,
    /// Sub-directory of the sweep's output directory.
    pub dir: PathBuf,
}

impl GridPoint {
    /// The name of its sub-directory.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Where a command writes in a grid point's folder: the folder itself for `train`, else
/// `FOLDER/COMMAND.csv`.
fn command_output(command: &str, dir: &Path) -> PathBuf {
    if command == "train" {
        dir.to_path_buf()
    } else {
        dir.join(format!("{command}.csv"))
    }
}

impl SweepSpec {
    /// Reads and checks a sweep file.
    pub fn load(path: &Path) -> Result<Self, ExpError> {
        let bad = |reason: String| ExpError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let spec: SweepSpec = toml::from_str(&text).map_err(|e| bad(one_line(&e)))?;
        match (&spec.figure, &spec.command) {
            (Some(_), None) => {
                spec.figure_id().map_err(bad)?;
            }
            (None, Some(c)) if COMMANDS.contains(&c.as_str()) => {}
            (None, Some(c)) => {
                return Err(bad(format!(
                    "command = \"{c}\": a sweep runs one of {}",
                    COMMANDS.join(", ")
                )))
            }
            _ => {
                return Err(bad(
                    "give either figure = \"3a\" (a figure) or command = \"train\" (train, predict or kernel on your files)".into(),
                ))
            }
        }
        if spec.grid.is_empty() || spec.grid.values().any(Vec::is_empty) {
            return Err(bad(
                "[grid] needs at least one key with a non-empty list".into()
            ));
        }
        spec.grid_size().map_err(bad)?;
        // every grid point must give valid settings or flags: fail before any work starts (the
        // CLI checks a command's flags with its parser, see `crate::commands`)
        for p in spec.points(Path::new(".")) {
            match &spec.command {
                None => spec.settings(&p).map(|_| ()),
                Some(_) => spec.command_line(&p).map(|_| ()),
            }
            .map_err(|e| bad(format!("grid point {}: {e}", p.name())))?;
        }
        Ok(spec)
    }

    /// The figure.
    pub fn figure_id(&self) -> Result<FigureId, String> {
        let figure = self
            .figure
            .as_deref()
            .ok_or("this sweep runs a command, not a figure")?;
        let id: FigureId = figure.parse()?;
        Ok(id)
    }

    /// The command line of one grid point of a command sweep (without the program name): the
    /// subcommand, `--key value` for every flag of `[set]` and of the point, and `--out`.
    pub fn command_line(&self, p: &GridPoint) -> Result<Vec<String>, ExpError> {
        let command = self.command.as_deref().unwrap_or_default();
        let mut flags: BTreeMap<&str, &toml::Value> =
            self.set.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (k, v) in &p.values {
            flags.insert(k, v);
        }
        let mut args = vec![command.to_string()];
        for (k, v) in flags {
            if k == "out" {
                return Err(ExpError::Usage(
                    "a sweep sets --out itself (the grid point's folder)".into(),
                ));
            }
            match v {
                toml::Value::Boolean(true) => args.push(format!("--{k}")),
                toml::Value::Boolean(false) => {}
                toml::Value::Array(a) => {
                    args.push(format!("--{k}"));
                    args.push(a.iter().map(compact).collect::<Vec<_>>().join(","));
                }
                other => {
                    args.push(format!("--{k}"));
                    args.push(compact(other));
                }
            }
        }
        args.push("--out".into());
        args.push(command_output(command, &p.dir).display().to_string());
        Ok(args)
    }

    /// The number of grid points, counted with overflow checks (64 keys of 2 values are 2^64
    /// points, not 0); an error beyond [`MAX_GRID_POINTS`].
    pub fn grid_size(&self) -> Result<usize, String> {
        if self.grid.values().any(Vec::is_empty) {
            return Ok(0);
        }
        let count = self
            .grid
            .values()
            .try_fold(1usize, |n, list| n.checked_mul(list.len()));
        match count {
            Some(n) if n <= MAX_GRID_POINTS => Ok(n),
            _ => {
                let sizes: Vec<String> = self.grid.values().map(|l| l.len().to_string()).collect();
                let count = count.map_or("≥2^64".to_string(), |n| n.to_string());
                Err(format!(
                    "{count} grid points ({}), more than the {MAX_GRID_POINTS} a sweep may run",
                    sizes.join(" × ")
                ))
            }
        }
    }

    /// Every grid point, the first key varying slowest (none for a grid beyond
    /// [`MAX_GRID_POINTS`]: see [`SweepSpec::grid_size`]).
    pub fn points(&self, out: &Path) -> Vec<GridPoint> {
        let keys: Vec<&String> = self.grid.keys().collect();
        let total = self.grid_size().unwrap_or(0);
        (0..total)
            .map(|mut i| {
                let mut values = vec![(String::new(), toml::Value::Integer(0)); keys.len()];
                for (slot, key) in values.iter_mut().zip(&keys).rev() {
                    let list = &self.grid[*key];
                    *slot = ((*key).clone(), list[i % list.len()].clone());
                    i /= list.len();
                }
                let name: Vec<String> = values
                    .iter()
                    .map(|(k, v)| format!("{}-{}", sanitize(k), sanitize(&compact(v))))
                    .collect();
                GridPoint {
                    dir: out.join(name.join("__")),
                    values,
                }
            })
            .collect()
    }

    /// The settings and network seed of one grid point.
    pub fn settings(&self, p: &GridPoint) -> Result<(Settings, Option<u64>), ExpError> {
        let id = self.figure_id().map_err(ExpError::Usage)?;
        let mut table = self.set.clone();
        let mut seed = None;
        for (k, v) in &p.values {
            if k == "seed" {
                let s = v.as_integer().filter(|s| *s >= 0).ok_or_else(|| {
                    ExpError::Usage(format!(
                        "sweep: seed must be a non-negative integer, got {v}"
                    ))
                })?;
                seed = Some(s as u64);
            } else {
                table.insert(k.clone(), v.clone());
            }
        }
        let mut doc = toml::Table::new();
        doc.insert(id.settings_table().into(), toml::Value::Table(table));
        let text = toml::to_string(&doc).map_err(|e| ExpError::Usage(e.to_string()))?;
        let settings = Settings::preset(self.preset).with_overrides(&text, "sweep")?;
        Ok((settings, seed))
    }
}

/// A summary number of a grid point: integers stay integers in `sweep.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// An integer (a count, a width).
    Int(i64),
    /// Any other number.
    Num(f64),
}

/// Runs a command line (the subcommand and its flags) as the CLI does.
pub type RunCommand<'a> = &'a dyn Fn(&[String]) -> Result<(), ExpError>;

/// Runs every grid point (each resumable; `base.shard` applies to each; a command's grid points
/// through `run`) and, unless sharded, writes `out/sweep.csv`. Returns the number of grid points.
pub fn run_sweep(spec: &SweepSpec, base: &RunOptions, run: RunCommand) -> Result<usize, ExpError> {
    spec.grid_size()
        .map_err(|e| ExpError::Usage(format!("sweep: {e}")))?;
    let points = spec.points(&base.out);
    // A command's grid point is one unit of work: the shard owns some points whole.
    let owned = base.shard.map(|s| s.owns(&vec![1.0; points.len()]));
    let mut rows: Vec<(GridPoint, BTreeMap<String, Stat>)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if base.progress {
            eprintln!(
                "sweep point {}/{}: {}",
                i + 1,
                points.len(),
                p.dir.display()
            );
        }
        let cols = match &spec.command {
            Some(command) => {
                if owned.as_ref().is_some_and(|own| !own[i]) {
                    continue;
                }
                run_command(spec, command, p, run)
                    .map_err(|e| ExpError::Usage(format!("sweep point {}: {e}", p.name())))?
            }
            None => {
                let (settings, seed) = spec.settings(p)?;
                let opts = RunOptions {
                    out: p.dir.clone(),
                    settings,
                    seed: seed.unwrap_or(base.seed),
                    preset: spec.preset,
                    ..base.clone()
                };
                let id = spec.figure_id().map_err(ExpError::Usage)?;
                let Some(report) = run_figure(id, &opts)? else {
                    continue;
                };
                let mut cols = BTreeMap::new();
                flatten("", &report.summary, &mut cols);
                cols
            }
        };
        rows.push((p.clone(), cols));
    }
    if rows.len() == points.len() && base.shard.is_none() {
        write_table(&base.out.join("sweep.csv"), &rows)?;
    }
    Ok(points.len())
}

/// Runs one grid point of a command sweep (skipped when its output is there from the same command
/// line) and returns its numbers: `train`'s first and last mean loss.
fn run_command(
    spec: &SweepSpec,
    command: &str,
    p: &GridPoint,
    run: RunCommand,
) -> Result<BTreeMap<String, Stat>, ExpError> {
    let args = spec.command_line(p)?;
    let output = command_output(command, &p.dir);
    let record = p.dir.join("command.txt");
    let line = format!("sgntk {}\n", args.join(" "));
    let done = match command {
        "train" => output.join("loss.csv").is_file(),
        _ => output.is_file(),
    };
    if !(done && std::fs::read_to_string(&record).is_ok_and(|r| r == line)) {
        std::fs::create_dir_all(&p.dir).map_err(|e| ExpError::output(&p.dir, e))?;
        run(&args)?;
        crate::io::write_atomic(&record, line.as_bytes())?;
    }
    let mut cols = BTreeMap::new();
    if command == "train" {
        let loss = crate::io::read_csv(&output.join("loss.csv"))?;
        if loss.nrows() > 0 {
            cols.insert("loss_initial".into(), Stat::Num(loss[(0, 1)]));
            cols.insert("loss_final".into(), Stat::Num(loss[(loss.nrows() - 1, 1)]));
        }
    }
    Ok(cols)
}

fn write_table(path: &Path, rows: &[(GridPoint, BTreeMap<String, Stat>)]) -> Result<(), ExpError> {
    let keys: Vec<String> = rows[0].0.values.iter().map(|(k, _)| k.clone()).collect();
    let mut stats: Vec<&String> = rows.iter().flat_map(|(_, c)| c.keys()).collect();
    stats.sort();
    stats.dedup();
    let mut header: Vec<&str> = vec!["dir"];
    header.extend(keys.iter().map(String::as_str));
    header.extend(stats.iter().map(|s| s.as_str()));
    let mut table = Table::new(&header);
    for (p, cols) in rows {
        let dir = p.name();
        let texts: Vec<String> = p.values.iter().map(|(_, v)| compact(v)).collect();
        let ints: Vec<String> = stats
            .iter()
            .map(|s| match cols.get(*s) {
                Some(Stat::Int(v)) => v.to_string(),
                _ => String::new(),
            })
            .collect();
        let mut cells = vec![Cell::Text(&dir)];
        cells.extend(texts.iter().map(|t| Cell::Text(t)));
        cells.extend(stats.iter().zip(&ints).map(|(s, int)| match cols.get(*s) {
            Some(Stat::Num(v)) => Cell::Num(*v),
            Some(Stat::Int(_)) => Cell::Text(int),
            None => Cell::Empty,
        }));
        table.push(&cells);
    }
    Ok(table.write(path)?)
}

/// Numeric leaves of a summary as dotted paths (`widths.0.coverage`); lists of plain numbers (e.g.
/// training angles) are left out.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, Stat>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.insert(prefix.to_string(), Stat::Int(i));
            } else if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), Stat::Num(x));
            }
        }
        serde_json::Value::Bool(b) => {
            out.insert(prefix.to_string(), Stat::Int(i64::from(*b)));
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        serde_json::Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&join(&i.to_string()), x, out);
            }
        }
        _ => {}
    }
}

/// A TOML value on one line without quotes, spaces or commas, so that it fits a CSV cell and a
/// directory name (`[20;100]`, `0.2`, `erf-prime:1`).
fn compact(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => {
            format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(";"))
        }
        other => other.to_string(),
    }
}

/// A shell-safe part of a directory name from `s`: characters other than letters, digits, `.`,
/// `-` and `_` become `_`, brackets vanish (`[20;100]` → `20_100`, `erf-prime:1` → `erf-prime_1`).
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !"[]".contains(*c))
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn grid_points_and_settings() {
        let s = spec(
            "figure = \"3a\"\n[set]\nsteps = 10\n[grid]\nwidths = [[20], [100]]\nkappa = [0.2, 1.0]\nseed = [4]\n",
        );
        let pts = s.points(Path::new("out"));
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[0].dir, Path::new("out/kappa-0.2__seed-4__widths-20"));
        assert_eq!(pts[3].dir, Path::new("out/kappa-1.0__seed-4__widths-100"));
        let (settings, seed) = s.settings(&pts[1]).unwrap();
        assert_eq!(seed, Some(4));
        assert_eq!(settings.fig3a.widths, vec![100]);
        assert_eq!(settings.fig3a.kappa, 0.2);
        assert_eq!(settings.fig3a.steps, 10);
        let pts =
            spec("figure = \"3a\"\n[grid]\nsurrogate = [\"erf-prime:1\"]\nwidths = [[20, 100]]\n")
                .points(Path::new("o"));
        assert_eq!(pts[0].name(), "surrogate-erf-prime_1__widths-20_100");
        let bad = spec("figure = \"3a\"\n[grid]\nwidths = [[0]]\n");
        assert!(bad.settings(&bad.points(Path::new("o"))[0]).is_err());
    }

    #[test]
    fn flattens_numeric_leaves() {
        let v = serde_json::json!({"train_angles": [1.0, 2.0], "widths": [{"width": 20, "coverage": 0.9}], "ok": true});
        let mut m = BTreeMap::new();
        flatten("", &v, &mut m);
        assert_eq!(m.get("widths.0.coverage"), Some(&Stat::Num(0.9)));
        assert_eq!(m.get("widths.0.width"), Some(&Stat::Int(20)));
        assert_eq!(m.get("ok"), Some(&Stat::Int(1)));
        assert!(!m.keys().any(|k| k.starts_with("train_angles")));
    }
}
