//! `sgntk stats FILE`: Fig. 3's statistics recomputed from a figure's published CSV (Fig. 3a,
//! B.2, the κ study; plain or gzip-compressed `.csv.gz`) by the figures' own code
//! ([`crate::figures::summarize`]), so every number of their JSON tables can be checked from the
//! data alone. The CSV is the long format the figures write: columns `curve`, `width`, `net`,
//! `alpha`, `value`, and any further columns (the κ study's `kappa`, `steps`) split it into groups,
//! each with its own GP (`gp_mean`, `gp_std`), Σ regression (`sigma_regression`), training points
//! (`train`) and networks (`network`, one curve per width and net). The final training loss is
//! not in the CSV and is left out.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::ExpError;
use crate::figures::{summarize, Comparison, WidthResult, WidthSummary};

/// The statistics of one group of the CSV.
#[derive(Clone, Debug, Serialize)]
pub struct StatsGroup {
    /// The group's values of the extra columns, in the header's order (none for Fig. 3a).
    pub group: Vec<(String, String)>,
    /// One per width, in the CSV's order.
    pub widths: Vec<WidthSummary>,
}

/// Reads `path` as text, inflating it when it is gzip-compressed (by its first two bytes).
pub fn read_text(path: &Path) -> Result<String, ExpError> {
    let bad = |e: &dyn std::fmt::Display| ExpError::Usage(format!("{}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(&e))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| bad(&e))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| bad(&e))
    }
}

/// The statistics of every group of the CSV `path`.
pub fn stats_of_file(path: &Path) -> Result<Vec<StatsGroup>, ExpError> {
    stats_of_csv(&read_text(path)?, &path.display().to_string())
}

/// A curve as read: (α, value) in row order.
type Points = Vec<(f64, f64)>;

/// One group's curves as read.
#[derive(Default)]
struct Curves {
    gp_mean: Points,
    gp_std: Points,
    sigma: Points,
    train: Vec<f64>,
    /// (width, net) → (α, value) in row order.
    networks: Vec<((usize, usize), Points)>,
}

/// The statistics of every group of the CSV text `text` (`origin` names it in errors).
pub fn stats_of_csv(text: &str, origin: &str) -> Result<Vec<StatsGroup>, ExpError> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            ExpError::Usage(format!(
                "{origin}: no column `{name}` (a figure CSV has curve, width, net, alpha, value)"
            ))
        })
    };
    let (c_curve, c_width, c_net, c_alpha, c_value) = (
        col("curve")?,
        col("width")?,
        col("net")?,
        col("alpha")?,
        col("value")?,
    );
    let group_cols: Vec<usize> = (0..header.len())
        .filter(|c| ![c_curve, c_width, c_net, c_alpha, c_value].contains(c))
        .collect();
    let mut groups: Vec<(Vec<String>, Curves)> = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let at = |reason: String| ExpError::Usage(format!("{origin}: line {}: {reason}", i + 1));
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            return Err(at(format!(
                "{} cells, the header has {}",
                cells.len(),
                header.len()
            )));
        }
        let num = |c: usize| {
            cells[c]
                .parse::<f64>()
                .map_err(|_| at(format!("`{}` is not a number", cells[c])))
        };
        let int = |c: usize| {
            cells[c]
                .parse::<usize>()
                .map_err(|_| at(format!("`{}` is not a width or net index", cells[c])))
        };
        let key: Vec<String> = group_cols.iter().map(|&c| cells[c].to_string()).collect();
        let g = match groups.iter().position(|(k, _)| *k == key) {
            Some(g) => g,
            None => {
                groups.push((key, Curves::default()));
                groups.len() - 1
            }
        };
        let curves = &mut groups[g].1;
        let point = (num(c_alpha)?, num(c_value)?);
        match cells[c_curve] {
            "gp_mean" => curves.gp_mean.push(point),
            "gp_std" => curves.gp_std.push(point),
            "sigma_regression" => curves.sigma.push(point),
            "train" => curves.train.push(point.0),
            "network" => {
                let id = (int(c_width)?, int(c_net)?);
                match curves.networks.iter_mut().rev().find(|(k, _)| *k == id) {
                    Some((_, v)) => v.push(point),
                    None => curves.networks.push((id, vec![point])),
                }
            }
            _ => {}
        }
    }
    groups
        .into_iter()
        .map(|(key, c)| {
            let group: Vec<(String, String)> = group_cols
                .iter()
                .map(|&i| header[i].to_string())
                .zip(key)
                .collect();
            let name = if group.is_empty() {
                origin.to_string()
            } else {
                let parts: Vec<String> = group.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{origin} ({})", parts.join(", "))
            };
            Ok(StatsGroup {
                widths: group_stats(&c, &name)?,
                group,
            })
        })
        .collect()
}

/// The statistics of one group's widths.
fn group_stats(c: &Curves, name: &str) -> Result<Vec<WidthSummary>, ExpError> {
    let bad = |what: String| ExpError::Usage(format!("{name}: {what}"));
    let grid: Vec<f64> = c.gp_mean.iter().map(|p| p.0).collect();
    if grid.is_empty() {
        return Err(bad("no gp_mean curve".into()));
    }
    let on_grid = |what: &str, v: &[(f64, f64)]| {
        if v.iter().map(|p| p.0).eq(grid.iter().copied()) {
            Ok(v.iter().map(|p| p.1).collect::<Vec<f64>>())
        } else {
            Err(bad(format!(
                "{what} is not given on gp_mean's {} angles",
                grid.len()
            )))
        }
    };
    let gp_mean: Vec<f64> = c.gp_mean.iter().map(|p| p.1).collect();
    let gp_std = on_grid("gp_std", &c.gp_std)?;
    let sigma = on_grid("sigma_regression", &c.sigma)?;
    let comparison = Comparison {
        grid: &grid,
        train_angles: &c.train,
        gp_mean: &gp_mean,
        gp_std: &gp_std,
        sigma_regression: &sigma,
    };
    let mut widths: Vec<WidthResult> = Vec::new();
    for ((width, net), curve) in &c.networks {
        let outputs = on_grid(&format!("network {net} of width {width}"), curve)?;
        match widths.iter_mut().find(|w| w.width == *width) {
            Some(w) => w.outputs.push(outputs),
            None => widths.push(WidthResult {
                width: *width,
                outputs: vec![outputs],
                mean: Vec::new(),
                final_loss: None,
            }),
        }
    }
    if widths.is_empty() {
        return Err(bad(
            "no network curves (Fig. 3b's CSV has only ensemble means)".into(),
        ));
    }
    Ok(widths
        .into_iter()
        .map(|mut w| {
            w.mean = crate::figures::mean_curve(&w.outputs);
            summarize(&comparison, &w)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The published Fig. B.2 CSV gives the same statistics plain and gzip-compressed, and bad
    /// tables are one-line errors.
    #[test]
    fn gzip_and_plain_csv_give_the_same_statistics() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reproduction/figb2.csv");
        let plain = stats_of_file(&path).unwrap();
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].widths[0].nets, 100);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
        let tmp = std::env::temp_dir().join(format!("sgntk-stats-{}.csv.gz", std::process::id()));
        std::fs::write(&tmp, enc.finish().unwrap()).unwrap();
        let gz = stats_of_file(&tmp);
        let _ = std::fs::remove_file(&tmp);
        let json = |g: &[StatsGroup]| serde_json::to_string(g).unwrap();
        assert_eq!(json(&gz.unwrap()), json(&plain));

        let err = |text: &str| stats_of_csv(text, "t.csv").unwrap_err().to_string();
        assert!(err("curve,width,alpha,value\n").contains("no column `net`"));
        let e = err("curve,width,net,alpha,value\ngp_mean,,,0.5\n");
        assert!(e.contains("line 2") && e.contains("4 cells"), "{e}");
        let e = err("curve,width,net,alpha,value\ngp_mean,,,0.5,x\n");
        assert!(e.contains("`x` is not a number"), "{e}");
        let e = err("curve,width,net,alpha,value\ngp_mean,,,0.5,1\ngp_std,,,0.5,1\nsigma_regression,,,0.5,1\n");
        assert!(e.contains("no network curves"), "{e}");
    }
}
