//! `sgntk sweep`: one figure over a grid of settings. Every grid point is a complete figure run in
//! its own sub-directory (resumable and shardable like any figure), and `OUT/sweep.csv` has one row
//! per grid point with the grid values and the figure's summary numbers as columns.
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::io::{Cell, Table};
use crate::settings::{one_line, Preset, Settings};

/// A parsed sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Figure kind (`1`, `2`, `3a`, `3b`, `b1` … `b4`).
    pub figure: String,
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

impl SweepSpec {
    /// Reads and checks a sweep file.
    pub fn load(path: &Path) -> Result<Self, ExpError> {
        let bad = |reason: String| ExpError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let spec: SweepSpec = toml::from_str(&text).map_err(|e| bad(one_line(&e)))?;
        spec.figure_id().map_err(bad)?;
        if spec.grid.is_empty() || spec.grid.values().any(Vec::is_empty) {
            return Err(bad(
                "[grid] needs at least one key with a non-empty list".into()
            ));
        }
        spec.grid_size().map_err(bad)?;
        // every grid point must give valid settings: fail before any work starts
        for p in spec.points(Path::new(".")) {
            spec.settings(&p).map_err(|e| bad(e.to_string()))?;
        }
        Ok(spec)
    }

    /// The figure.
    pub fn figure_id(&self) -> Result<FigureId, String> {
        let id: FigureId = self.figure.parse()?;
        Ok(id)
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
                    .map(|(k, v)| format!("{k}={}", compact(v)))
                    .collect();
                GridPoint {
                    dir: out.join(sanitize(&name.join("_"))),
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

/// Runs every grid point (each resumable; `base.shard` applies to each) and, unless sharded, writes
/// `out/sweep.csv`. Returns the number of grid points.
pub fn run_sweep(spec: &SweepSpec, base: &RunOptions) -> Result<usize, ExpError> {
    let id = spec.figure_id().map_err(ExpError::Usage)?;
    spec.grid_size()
        .map_err(|e| ExpError::Usage(format!("sweep: {e}")))?;
    let points = spec.points(&base.out);
    let mut rows: Vec<(GridPoint, BTreeMap<String, f64>)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let (settings, seed) = spec.settings(p)?;
        let opts = RunOptions {
            out: p.dir.clone(),
            settings,
            seed: seed.unwrap_or(base.seed),
            preset: spec.preset,
            ..base.clone()
        };
        if opts.progress {
            eprintln!(
                "sweep point {}/{}: {}",
                i + 1,
                points.len(),
                p.dir.display()
            );
        }
        if let Some(report) = run_figure(id, &opts)? {
            let mut cols = BTreeMap::new();
            flatten("", &report.summary, &mut cols);
            rows.push((p.clone(), cols));
        }
    }
    if rows.len() == points.len() {
        write_table(&base.out.join("sweep.csv"), &rows)?;
    }
    Ok(points.len())
}

fn write_table(path: &Path, rows: &[(GridPoint, BTreeMap<String, f64>)]) -> Result<(), ExpError> {
    let keys: Vec<String> = rows[0].0.values.iter().map(|(k, _)| k.clone()).collect();
    let mut stats: Vec<&String> = rows.iter().flat_map(|(_, c)| c.keys()).collect();
    stats.sort();
    stats.dedup();
    let mut header: Vec<&str> = vec!["dir"];
    header.extend(keys.iter().map(String::as_str));
    header.extend(stats.iter().map(|s| s.as_str()));
    let mut table = Table::new(&header);
    for (p, cols) in rows {
        let dir = p.dir.file_name().map(|d| d.to_string_lossy().into_owned());
        let texts: Vec<String> = p.values.iter().map(|(_, v)| compact(v)).collect();
        let mut cells = vec![Cell::Text(dir.as_deref().unwrap_or(""))];
        cells.extend(texts.iter().map(|t| Cell::Text(t)));
        cells.extend(
            stats
                .iter()
                .map(|s| cols.get(*s).map_or(Cell::Empty, |v| Cell::Num(*v))),
        );
        table.push(&cells);
    }
    Ok(table.write(path)?)
}

/// Numeric leaves of a summary as dotted paths (`widths.0.coverage`); lists of plain numbers (e.g.
/// training angles) are left out.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Bool(b) => {
            out.insert(prefix.to_string(), if *b { 1.0 } else { 0.0 });
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

/// A directory name from `s`: characters other than letters, digits, `.`, `-`, `_`, `=`, `;`, `[`,
/// `]` and `:` become `_`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_=;[]:".contains(c) {
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
        assert_eq!(pts[0].dir, Path::new("out/kappa=0.2_seed=4_widths=[20]"));
        assert_eq!(pts[3].dir, Path::new("out/kappa=1.0_seed=4_widths=[100]"));
        let (settings, seed) = s.settings(&pts[1]).unwrap();
        assert_eq!(seed, Some(4));
        assert_eq!(settings.fig3a.widths, vec![100]);
        assert_eq!(settings.fig3a.kappa, 0.2);
        assert_eq!(settings.fig3a.steps, 10);
        let bad = spec("figure = \"3a\"\n[grid]\nwidths = [[0]]\n");
        assert!(bad.settings(&bad.points(Path::new("o"))[0]).is_err());
    }

    #[test]
    fn flattens_numeric_leaves() {
        let v = serde_json::json!({"train_angles": [1.0, 2.0], "widths": [{"width": 20, "coverage": 0.9}], "ok": true});
        let mut m = BTreeMap::new();
        flatten("", &v, &mut m);
        assert_eq!(m.get("widths.0.coverage"), Some(&0.9));
        assert_eq!(m.get("ok"), Some(&1.0));
        assert!(!m.keys().any(|k| k.starts_with("train_angles")));
    }
}
