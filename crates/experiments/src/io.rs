//! CSV input and output in the CLI's contract: one point per row, comma-separated numbers, an
//! optional header line; for training files the last column is the target. Outputs are written in
//! full f64 precision, `inf` for infinite entries.

use std::fmt::Write as _;
use std::path::Path;

use sgntk_model::nalgebra::DMatrix;
use thiserror::Error;

/// Errors reading or writing data files. Each names the file and the problem.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file has no data rows.
    #[error("{path}: no data rows")]
    Empty {
        /// The path.
        path: String,
    },
    /// A cell is not a finite number.
    #[error("{path}, line {line}: `{cell}` is not a finite number")]
    BadNumber {
        /// The path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending cell.
        cell: String,
    },
    /// Rows have different numbers of columns.
    #[error("{path}, line {line}: {got} columns, but earlier rows have {expected}")]
    Ragged {
        /// The path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// Columns of the first row.
        expected: usize,
        /// Columns of this row.
        got: usize,
    },
    /// The number of columns does not fit what the command needs.
    #[error("{path}: {got} columns, expected {expected}")]
    Columns {
        /// The path.
        path: String,
        /// What was expected.
        expected: String,
        /// Columns found.
        got: usize,
    },
}

/// Parses CSV text: numbers only, except an optional first (header) line.
pub fn parse_csv(text: &str, path: &str) -> Result<DMatrix<f64>, IoError> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Result<Vec<f64>, &str> = cells
            .iter()
            .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(*c))
            .collect();
        match parsed {
            Ok(v) => {
                if let Some(first) = rows.first() {
                    if first.len() != v.len() {
                        return Err(IoError::Ragged {
                            path: path.into(),
                            line: i + 1,
                            expected: first.len(),
                            got: v.len(),
                        });
                    }
                }
                rows.push(v);
            }
            // A header is allowed on the first non-empty line only, and must not look numeric.
            Err(cell) => {
                let is_header = rows.is_empty() && cells.iter().all(|c| c.parse::<f64>().is_err());
                if !is_header || text.lines().take(i).any(|l| !l.trim().is_empty()) {
                    return Err(IoError::BadNumber {
                        path: path.into(),
                        line: i + 1,
                        cell: cell.to_string(),
                    });
                }
            }
        }
    }
    let Some(first) = rows.first() else {
        return Err(IoError::Empty { path: path.into() });
    };
    let cols = first.len();
    Ok(DMatrix::from_fn(rows.len(), cols, |r, c| rows[r][c]))
}

/// Reads a CSV file of numbers.
pub fn read_csv(path: &Path) -> Result<DMatrix<f64>, IoError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| IoError::File {
        path: name.clone(),
        source,
    })?;
    parse_csv(&text, &name)
}

/// Reads a training file: all columns but the last are the input, the last is the target.
pub fn read_train_csv(
    path: &Path,
    input_dim: Option<usize>,
) -> Result<(DMatrix<f64>, DMatrix<f64>), IoError> {
    let m = read_csv(path)?;
    let name = path.display().to_string();
    if m.ncols() < 2 || input_dim.is_some_and(|d| d + 1 != m.ncols()) {
        return Err(IoError::Columns {
            path: name,
            expected: match input_dim {
                Some(d) => format!("{} (inputs) + 1 (target)", d),
                None => "at least 2 (inputs, then the target)".into(),
            },
            got: m.ncols(),
        });
    }
    let d = m.ncols() - 1;
    Ok((m.columns(0, d).into_owned(), m.columns(d, 1).into_owned()))
}

/// Formats a number in full precision (`inf`, `-inf`; NaN is written as `nan`).
pub fn fmt_f64(v: f64) -> String {
    if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{v:?}")
    }
}

/// CSV text of a matrix with an optional header.
pub fn to_csv(m: &DMatrix<f64>, header: Option<&[&str]>) -> String {
    let mut out = String::new();
    if let Some(h) = header {
        out.push_str(&h.join(","));
        out.push('\n');
    }
    for r in 0..m.nrows() {
        let row: Vec<String> = (0..m.ncols()).map(|c| fmt_f64(m[(r, c)])).collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
    out
}

/// Writes a matrix as CSV.
pub fn write_csv(path: &Path, m: &DMatrix<f64>, header: Option<&[&str]>) -> Result<(), IoError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| IoError::File {
            path: dir.display().to_string(),
            source,
        })?;
    }
    std::fs::write(path, to_csv(m, header)).map_err(|source| IoError::File {
        path: path.display().to_string(),
        source,
    })
}

/// A CSV table with text and number cells (long format, one observation per row), for the data
/// behind every plot.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<String>,
}

/// One cell of a [`Table`] row.
pub enum Cell<'a> {
    /// Text, written as is (must not contain commas).
    Text(&'a str),
    /// A number in full precision.
    Num(f64),
    /// An integer.
    Int(usize),
    /// An empty cell.
    Empty,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as columns).
    pub fn push(&mut self, cells: &[Cell]) {
        debug_assert_eq!(cells.len(), self.header.len());
        let row: Vec<String> = cells
            .iter()
            .map(|c| match c {
                Cell::Text(s) => s.to_string(),
                Cell::Num(v) => fmt_f64(*v),
                Cell::Int(i) => i.to_string(),
                Cell::Empty => String::new(),
            })
            .collect();
        self.rows.push(row.join(","));
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The CSV text.
    pub fn to_csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push('\n');
        for r in &self.rows {
            out.push_str(r);
            out.push('\n');
        }
        out
    }

    /// Writes the table to `path`.
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        std::fs::write(path, self.to_csv()).map_err(|source| IoError::File {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_and_rejects_bad_input() {
        let m = parse_csv("x0,x1\n0.5, 1\n-2,3e-1\n", "t").unwrap();
        assert_eq!(m, DMatrix::from_row_slice(2, 2, &[0.5, 1.0, -2.0, 0.3]));
        let e = parse_csv("1,2\n3\n", "t").unwrap_err().to_string();
        assert!(
            e.contains("line 2: 1 columns, but earlier rows have 2"),
            "{e}"
        );
        let e = parse_csv("1,2\n3,nan\n", "t").unwrap_err().to_string();
        assert!(e.contains("`nan` is not a finite number"), "{e}");
        let e = parse_csv("1,2\nx,y\n", "t").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_csv("a,b\n", "t").unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
        assert!(matches!(parse_csv("", "t"), Err(IoError::Empty { .. })));
    }

    #[test]
    fn writes_full_precision_and_inf() {
        let m = DMatrix::from_row_slice(1, 3, &[0.1 + 0.2, f64::INFINITY, -1.0]);
        assert_eq!(
            to_csv(&m, Some(&["a", "b", "c"])),
            "a,b,c\n0.30000000000000004,inf,-1.0\n"
        );
        let back = parse_csv("0.30000000000000004,2\n", "t").unwrap();
        assert_eq!(back[(0, 0)], 0.1 + 0.2);
    }
}
