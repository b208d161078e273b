//! CSV input and output in the CLI's contract: one point per row, comma-separated numbers, an
//! optional header line; for training files the last column is the target. Outputs are written in
//! full f64 precision, `inf` for infinite entries.
//!
//! Header rule: a UTF-8 byte-order mark is ignored; the first non-empty, non-`#` line is a header
//! only if every one of its cells is a *name* — not a number, and starting with a letter, `_` or a
//! quote (`x0`, `target`, `"y"`). Any other cell that is not a finite number is an error naming the
//! line, so a mangled first data row (`1.5x`, `?0.3`) is reported instead of being dropped as a
//! header.
//!
//! The same inputs may be NumPy files ([`crate::npy`], chosen by extension, [`DataFormat`]): a
//! `.npy` array of points (2-D, or 4-D images flattened per point), a training set as an `.npz`
//! with arrays `x` and `y`; results are written as `.npy` when the output's name says so. Every
//! format goes through the one reader entry point and the same check ([`check_matrix`]).
//!
//! Every output file is written atomically ([`write_atomic`]): to a uniquely named temporary file
//! in the same directory, then renamed over the target, so a failed or interrupted write (a full
//! disk, a killed run) never leaves a truncated file, and concurrent runs never collide.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sgntk_model::nalgebra::DMatrix;
use thiserror::Error;

/// A path (given as text) quoted in a message: [`sgntk_model::error::excerpt_path`].
fn shown_path(path: &str) -> String {
    sgntk_model::error::excerpt_path(Path::new(path))
}

/// Errors reading or writing data files. Each names the file and the problem.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file could not be read or written.
    #[error("{}: {source}", shown_path(.path))]
    File {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file has no data rows.
    #[error("{}: no data rows", shown_path(.path))]
    Empty {
        /// The path.
        path: String,
    },
    /// A cell is not a finite number.
    #[error("{}, line {line}: `{}` is not a finite number", shown_path(.path), sgntk_model::error::excerpt(.cell))]
    BadNumber {
        /// The path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending cell.
        cell: String,
    },
    /// Rows have different numbers of columns.
    #[error("{}, line {line}: {got} columns, but earlier rows have {expected}", shown_path(.path))]
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
    /// A binary array file (`.npy`, `.npz`) that cannot be used: its format, dtype or shape.
    #[error("{path}: {reason}")]
    Format {
        /// The path.
        path: String,
        /// What is wrong, in one line.
        reason: String,
    },
    /// An entry of a binary array file is NaN or infinite.
    #[error("{path}: entry ({row}, {column}) is {value}, not a finite number (0-based)")]
    NotFinite {
        /// The path.
        path: String,
        /// Row (point), 0-based.
        row: usize,
        /// Column, 0-based.
        column: usize,
        /// The value.
        value: f64,
    },
    /// The number of columns does not fit what the command needs.
    #[error("{}: {got} columns, expected {expected}", shown_path(.path))]
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
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
            // A header is allowed on the first non-empty line only, and every cell must be a name.
            Err(cell) => {
                let is_header = rows.is_empty() && cells.iter().all(|c| is_name(c));
                if !is_header || text.lines().take(i).any(|l| !l.trim().is_empty()) {
                    // In a would-be header, name the cell that is neither a number nor a name.
                    let finite = |c: &str| c.parse::<f64>().is_ok_and(f64::is_finite);
                    let culprit = if rows.is_empty() {
                        cells.iter().find(|c| !is_name(c) && !finite(c))
                    } else {
                        None
                    };
                    return Err(IoError::BadNumber {
                        path: path.into(),
                        line: i + 1,
                        cell: culprit.copied().unwrap_or(cell).to_string(),
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

/// Whether a header cell is a column name: not a number, and starting with a letter, `_` or a
/// quote.
fn is_name(cell: &str) -> bool {
    cell.parse::<f64>().is_err()
        && cell
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"' || c == '\'')
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

/// A data file's format, by its extension (case ignored): `.npy`, `.npz`, anything else CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// Comma-separated text (see the module docs).
    Csv,
    /// One NumPy array ([`crate::npy`]).
    Npy,
    /// A NumPy archive of named arrays ([`crate::npy`]).
    Npz,
}

impl DataFormat {
    /// The format `path`'s extension names.
    pub fn of(path: &Path) -> DataFormat {
        match path.extension().map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "npy" => DataFormat::Npy,
            Some(e) if e == "npz" => DataFormat::Npz,
            _ => DataFormat::Csv,
        }
    }
}

/// The check every matrix of points passes after reading, whatever its format: at least one row
/// (point) and one column, every entry finite.
pub fn check_matrix(m: &DMatrix<f64>, path: &str) -> Result<(), IoError> {
    if m.nrows() == 0 {
        return Err(IoError::Empty { path: path.into() });
    }
    if m.ncols() == 0 {
        return Err(IoError::Columns {
            path: path.into(),
            expected: "at least 1".into(),
            got: 0,
        });
    }
    for (column, col) in m.column_iter().enumerate() {
        if let Some((row, &value)) = col.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(IoError::NotFinite {
                path: path.into(),
                row,
                column,
                value,
            });
        }
    }
    Ok(())
}

/// Points from a NumPy array: 2-D (points, features) as they are, 4-D (points, H, W, C) — images
/// — flattened row-major per point to H·W·C features. Returns the matrix and the array's number
/// of dimensions.
fn array_points(a: crate::npy::Array, path: &str) -> Result<(DMatrix<f64>, usize), IoError> {
    let (points, features) = match a.shape[..] {
        [n, d] => (n, d),
        // (overflow is only possible when n = 0: the data bytes bound the product otherwise)
        [n, h, w, c] => (n, h.saturating_mul(w).saturating_mul(c)),
        _ => {
            return Err(IoError::Format {
                path: path.into(),
                reason: format!(
                    "shape {}: expected 2-D (points, features) or 4-D (points, H, W, C)",
                    crate::npy::shape_text(&a.shape)
                ),
            })
        }
    };
    if points == 0 {
        return Err(IoError::Empty { path: path.into() });
    }
    let m = DMatrix::from_row_slice(points, features, &a.data);
    check_matrix(&m, path)?;
    Ok((m, a.shape.len()))
}

/// Points from the bytes of a `.npy` file (2-D as they are, 4-D images flattened row-major per
/// point), checked by [`check_matrix`].
pub fn parse_npy_points(bytes: &[u8], path: &str) -> Result<DMatrix<f64>, IoError> {
    npy_points(bytes, path).map(|(m, _)| m)
}

fn npy_points(bytes: &[u8], path: &str) -> Result<(DMatrix<f64>, usize), IoError> {
    let array = crate::npy::parse_npy(bytes).map_err(|reason| IoError::Format {
        path: path.into(),
        reason,
    })?;
    array_points(array, path)
}

/// Reads a file of points, dispatching on its extension ([`DataFormat`]): CSV, or a `.npy`
/// array (float32/float64, C or Fortran order, 2-D or 4-D, see [`array_points`]). Every format
/// passes [`check_matrix`]. Returns the matrix and the number of dimensions of the stored array
/// (2 for CSV).
fn read_points_file(path: &Path) -> Result<(DMatrix<f64>, usize), IoError> {
    let name = path.display().to_string();
    match DataFormat::of(path) {
        DataFormat::Csv => {
            let m = read_csv(path)?;
            check_matrix(&m, &name)?;
            Ok((m, 2))
        }
        DataFormat::Npy => npy_points(&read_bytes(path)?, &name),
        DataFormat::Npz => Err(IoError::Format {
            path: name,
            reason: "an .npz archive holds several arrays: --train reads its arrays `x` and `y`; \
                     give other inputs as .npy or CSV"
                .into(),
        }),
    }
}

/// Reads a file of points (CSV or `.npy`, by extension): one row per point.
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>, IoError> {
    read_points_file(path).map(|(m, _)| m)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, IoError> {
    std::fs::read(path).map_err(|source| IoError::File {
        path: path.display().to_string(),
        source,
    })
}

/// The training set of an `.npz` archive: arrays `x` (2-D or 4-D points, see [`array_points`])
/// and `y` (the targets, shape (points,) or (points, 1)).
fn read_train_npz(path: &Path, targets: usize) -> Result<(DMatrix<f64>, DMatrix<f64>), IoError> {
    let name = path.display().to_string();
    let bad = |reason: String| IoError::Format {
        path: name.clone(),
        reason,
    };
    let members = crate::npy::parse_npz(&read_bytes(path)?).map_err(&bad)?;
    let member = |key: &str| {
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, bytes)| bytes)
            .ok_or_else(|| {
                bad(format!(
                    "no array `{key}` (a training archive holds `x` and `y`; this one holds {})",
                    names.join(", ")
                ))
            })
    };
    let at = |key: &str| format!("{name}[{key}]");
    let (x, _) = npy_points(member("x")?, &at("x"))?;
    let y = crate::npy::parse_npy(member("y")?).map_err(|reason| IoError::Format {
        path: at("y"),
        reason,
    })?;
    let y = match (&y.shape[..], targets) {
        ([n], 1) | ([n, 1], 1) => DMatrix::from_column_slice(*n, 1, &y.data),
        ([n, k], _) if *k == targets => DMatrix::from_row_slice(*n, *k, &y.data),
        _ if targets == 1 => {
            return Err(bad(format!(
                "array `y` has shape {}, expected (points,) or (points, 1): one target per point (--targets N for N)",
                crate::npy::shape_text(&y.shape)
            )))
        }
        _ => {
            return Err(bad(format!(
                "array `y` has shape {}, expected (points, {targets}) for --targets {targets}",
                crate::npy::shape_text(&y.shape)
            )))
        }
    };
    check_matrix(&y, &at("y"))?;
    if y.nrows() != x.nrows() {
        return Err(bad(format!(
            "arrays `x` and `y` hold {} and {} points",
            x.nrows(),
            y.nrows()
        )));
    }
    Ok((x, y))
}

/// Reads a training file: all columns but the last are the input, the last is the target (CSV or
/// a 2-D `.npy`), or an `.npz` archive with arrays `x` and `y`.
pub fn read_train(
    path: &Path,
    input_dim: Option<usize>,
) -> Result<(DMatrix<f64>, DMatrix<f64>), IoError> {
    read_train_targets(path, input_dim, 1)
}

/// [`read_train`] with the last `targets` columns (≥ 1) the targets (an `.npz`'s `y` of shape
/// (points, targets)): one row of `targets` values per point (e.g. one-hot classes).
pub fn read_train_targets(
    path: &Path,
    input_dim: Option<usize>,
    targets: usize,
) -> Result<(DMatrix<f64>, DMatrix<f64>), IoError> {
    let name = path.display().to_string();
    if targets == 0 {
        return Err(IoError::Format {
            path: name,
            reason: "--targets must be ≥ 1".into(),
        });
    }
    if DataFormat::of(path) == DataFormat::Npz {
        let (x, y) = read_train_npz(path, targets)?;
        if let Some(d) = input_dim.filter(|d| *d != x.ncols()) {
            return Err(IoError::Columns {
                path: format!("{name}[x]"),
                expected: format!("{d} (inputs)"),
                got: x.ncols(),
            });
        }
        return Ok((x, y));
    }
    let (m, dims) = read_points_file(path)?;
    if dims != 2 {
        return Err(IoError::Format {
            path: name,
            reason: "a training array is 2-D (points, inputs then the target); give images \
                     (points, H, W, C) as an .npz with arrays `x` and `y`"
                .into(),
        });
    }
    if m.ncols() < targets + 1 || input_dim.is_some_and(|d| d + targets != m.ncols()) {
        let what = match targets {
            1 => "1 (target)".to_string(),
            k => format!("{k} (targets)"),
        };
        return Err(IoError::Columns {
            path: name,
            expected: match input_dim {
                Some(d) => format!("{d} (inputs) + {what}"),
                None if targets == 1 => "at least 2 (inputs, then the target)".into(),
                None => format!("at least {} (inputs, then {targets} targets)", targets + 1),
            },
            got: m.ncols(),
        });
    }
    let d = m.ncols() - targets;
    Ok((
        m.columns(0, d).into_owned(),
        m.columns(d, targets).into_owned(),
    ))
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

/// Writes a matrix as CSV (atomically, creating the directory).
pub fn write_csv(path: &Path, m: &DMatrix<f64>, header: Option<&[&str]>) -> Result<(), IoError> {
    write_atomic(path, to_csv(m, header).as_bytes())
}

/// A matrix as a `.npy` file: float64, shape (rows, columns), C order.
pub fn to_npy(m: &DMatrix<f64>) -> Vec<u8> {
    crate::npy::to_npy_columns(m.nrows(), m.ncols(), m.as_slice())
}

/// Writes a result matrix in the format `path`'s extension names ([`DataFormat`]): `.npy`
/// (float64; the header is for CSV only) or CSV (atomically, creating the directory). A single
/// matrix is not an archive: `.npz` is an error.
pub fn write_matrix(path: &Path, m: &DMatrix<f64>, header: Option<&[&str]>) -> Result<(), IoError> {
    match DataFormat::of(path) {
        DataFormat::Npy => write_atomic(path, &to_npy(m)),
        DataFormat::Npz => Err(IoError::Format {
            path: path.display().to_string(),
            reason: "this output is one matrix: name it .npy (or .csv)".into(),
        }),
        DataFormat::Csv => write_csv(path, m, header),
    }
}

fn file_error(path: &Path, source: std::io::Error) -> IoError {
    IoError::File {
        path: path.display().to_string(),
        source,
    }
}

/// A fresh temporary path in `path`'s directory, unique across processes and threads
/// (`.NAME.tmp-PID-COUNTER-NANOS`; with `keep_extension`, `path`'s extension is appended again so
/// writers that choose the format by extension, like the PNG encoder, still see it).
pub fn temp_path(path: &Path, keep_extension: bool) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = format!(".{name}.tmp-{}-{n}-{nanos:09}", std::process::id());
    if let Some(ext) = path.extension().filter(|_| keep_extension) {
        tmp.push('.');
        tmp.push_str(&ext.to_string_lossy());
    }
    path.with_file_name(tmp)
}

/// Creates `path`'s parent directory if missing.
pub fn create_parent(path: &Path) -> Result<(), IoError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e)),
        None => Ok(()),
    }
}

/// Where an output path leads: a regular file (or nothing yet) to replace atomically, or a stream
/// (stdout, a character device such as `/dev/null`, a FIFO, a socket) to write directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// Standard output (`-`, `/dev/stdout`).
    Stdout,
    /// A device, FIFO or socket: opened and written in place (no temporary file, never replaced).
    Stream(PathBuf),
    /// A regular file, existing or not: the path with every symbolic link resolved, so the file
    /// is replaced next to the link's target and the link itself stays.
    File(PathBuf),
}

/// Resolves `path` for writing ([`OutputTarget`]): `-` and `/dev/stdout` are stdout; a path whose target exists
/// and is not a regular file or directory is a stream; a directory is an error; anything else
/// (a regular file, a missing file, a dangling link) is the file at the end of its links.
pub fn output_target(path: &Path) -> Result<OutputTarget, IoError> {
    // `/dev/stdout` is this process's stdout whatever it is (a terminal, a pipe, a socket, a file
    // opened by the shell): written through file descriptor 1, never reopened or replaced.
    if ["-", "/dev/stdout", "/proc/self/fd/1"].contains(&path.as_os_str().to_str().unwrap_or("")) {
        return Ok(OutputTarget::Stdout);
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(file_error(
                path,
                std::io::Error::other("is a directory, expected a file name"),
            ))
        }
        Ok(m) if !m.is_file() => return Ok(OutputTarget::Stream(path.to_path_buf())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(path, e)),
    }
    // Follow the chain of links (a dangling one too: its target is created).
    let mut real = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&real).map_err(|e| file_error(path, e))?;
                real = match real.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(OutputTarget::File(real)),
        }
    }
    Err(file_error(
        path,
        std::io::Error::other("too many levels of symbolic links"),
    ))
}

/// Writes `bytes` to a stream target (stdout or an existing device / FIFO), in place.
fn write_stream(target: &OutputTarget, shown: &Path, bytes: &[u8]) -> Result<(), IoError> {
    use std::io::Write as _;
    let done = match target {
        OutputTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        OutputTarget::Stream(p) => std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .and_then(|mut f| f.write_all(bytes)),
        OutputTarget::File(_) => unreachable!("files are written through a temporary file"),
    };
    done.map_err(|e| file_error(shown, e))
}

/// Produces `path` atomically: `write` fills a fresh temporary file beside it ([`temp_path`]),
/// which is then renamed over `path`; on any error the temporary file is removed and `path` is
/// left as it was. Creates the parent directory. Symbolic links are written through (the file
/// is replaced next to the link's target); a stream target ([`output_target`]: `-`, a device, a
/// FIFO) gets the finished temporary file's bytes written directly.
pub fn write_via_temp<E: From<IoError>>(
    path: &Path,
    keep_extension: bool,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let target = output_target(path)?;
    let OutputTarget::File(real) = &target else {
        // The writer needs a file: fill one in the temporary directory, then stream it.
        let tmp = temp_path(&std::env::temp_dir().join("sgntk-out"), keep_extension);
        let done = write(&tmp).and_then(|()| {
            let bytes = std::fs::read(&tmp).map_err(|e| E::from(file_error(path, e)))?;
            Ok(write_stream(&target, path, &bytes)?)
        });
        let _ = std::fs::remove_file(&tmp);
        return done;
    };
    create_parent(real)?;
    let tmp = temp_path(real, keep_extension);
    let done = write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, real).map_err(|e| E::from(file_error(path, e))));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// Writes `bytes` to `path` atomically (see [`write_via_temp`]); `-`, devices and FIFOs are
/// written directly.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    match output_target(path)? {
        OutputTarget::File(_) => write_via_temp(path, false, |tmp| {
            std::fs::write(tmp, bytes).map_err(|e| file_error(path, e))
        }),
        stream => write_stream(&stream, path, bytes),
    }
}

/// Writes several files as one unit: every file goes to its temporary file first, and only when
/// all are complete are they renamed into place, so a failed write (a full disk) leaves none of
/// them half-written or missing beside the others' new versions.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<(), IoError> {
    let targets = files
        .iter()
        .map(|(path, _)| output_target(path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut temps: Vec<Option<PathBuf>> = Vec::new();
    let cleanup = |temps: &[Option<PathBuf>]| {
        for t in temps.iter().flatten() {
            let _ = std::fs::remove_file(t);
        }
    };
    for ((path, bytes), target) in files.iter().zip(&targets) {
        let OutputTarget::File(real) = target else {
            temps.push(None);
            continue;
        };
        if let Err(e) = create_parent(real) {
            cleanup(&temps);
            return Err(e);
        }
        let tmp = temp_path(real, false);
        temps.push(Some(tmp.clone()));
        if let Err(e) = std::fs::write(&tmp, bytes) {
            cleanup(&temps);
            return Err(file_error(path, e));
        }
    }
    for (i, ((path, bytes), target)) in files.iter().zip(&targets).enumerate() {
        let done = match (target, &temps[i]) {
            (OutputTarget::File(real), Some(tmp)) => {
                std::fs::rename(tmp, real).map_err(|e| file_error(path, e))
            }
            (stream, _) => write_stream(stream, path, bytes),
        };
        if let Err(e) = done {
            cleanup(&temps[i..]);
            return Err(e);
        }
    }
    Ok(())
}

/// Checks, before any work starts, that `dir` can hold outputs: creates it (and its parents) and
/// writes and removes a probe file in it. The error names the directory and the reason.
pub fn check_out_dir(dir: &Path) -> Result<(), IoError> {
    if dir.exists() && !dir.is_dir() {
        return Err(file_error(
            dir,
            std::io::Error::other("exists and is not a directory"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let probe = temp_path(&dir.join("write-check"), false);
    std::fs::write(&probe, b"").map_err(|e| {
        file_error(
            dir,
            std::io::Error::new(e.kind(), format!("not writable ({e})")),
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Checks, before any work starts, that the file `path` can be written: `-` (stdout), a device
/// or a FIFO can; for a file, the directory of its (link-resolved) target is created and writable
/// ([`check_out_dir`]) and the path is not a directory.
pub fn check_out_file(path: &Path) -> Result<(), IoError> {
    let OutputTarget::File(real) = output_target(path)? else {
        return Ok(());
    };
    match real.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => check_out_dir(dir),
        None => check_out_dir(Path::new(".")),
    }
}

/// An output directory created for a run ([`OutDir::create`]): unless the run ends with
/// [`OutDir::keep`], dropping it removes what the run created and left empty (`DIR/cache`,
/// `DIR` and its new parents), so a failed run leaves no empty directory behind. Never removes
/// a file or a non-empty directory (saved chunks of a failed run stay, to resume from).
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    /// The first of `dir` and its ancestors that this run created (`None`: `dir` existed).
    created: Option<PathBuf>,
    keep: bool,
}

impl OutDir {
    /// Creates `dir` if missing and checks that it is writable ([`check_out_dir`]).
    pub fn create(dir: &Path) -> Result<Self, IoError> {
        let mut created = None;
        for a in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            if a.symlink_metadata().is_ok() {
                break;
            }
            created = Some(a.to_path_buf());
        }
        check_out_dir(dir)?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            created,
            keep: false,
        })
    }

    /// The run succeeded: keep the directory.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let Some(top) = self.created.as_deref().filter(|_| !self.keep) else {
            return;
        };
        let _ = std::fs::remove_dir(self.dir.join("cache"));
        for d in self.dir.ancestors() {
            if std::fs::remove_dir(d).is_err() || d == top {
                break;
            }
        }
    }
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

    /// Writes the table to `path` (atomically, creating the directory).
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        write_atomic(path, self.to_csv().as_bytes())
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
    fn bom_is_ignored_and_only_names_make_a_header() {
        // A one-column file saved with a byte-order mark keeps its first row.
        let m = parse_csv("\u{feff}1.5\n2\n3\n", "t").unwrap();
        assert_eq!(m.as_slice(), &[1.5, 2.0, 3.0]);
        let m = parse_csv("\u{feff}x\n2\n3\n", "t").unwrap();
        assert_eq!(m.as_slice(), &[2.0, 3.0]);
        let m = parse_csv("\u{feff}x0,x1\n1,2\n", "t").unwrap();
        assert_eq!(m.shape(), (1, 2));
        // Names: letters, `_`, quotes.
        for h in ["target", "_y", "\"y\"", "α", "net_0"] {
            let m = parse_csv(&format!("{h}\n4\n"), "t").unwrap();
            assert_eq!(m.as_slice(), &[4.0], "{h}");
        }
        // A first cell that is neither a number nor a name is an error, not a dropped row.
        for bad in [
            "1.5x",
            "?0.3",
            "\u{feff}\u{feff}1",
            "-",
            "nan",
            "inf",
            "1e999",
        ] {
            let e = parse_csv(&format!("{bad}\n2\n3\n"), "t")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("line 1") && e.contains("not a finite number"),
                "{bad}: {e}"
            );
        }
        let e = parse_csv("x0,1.5y\n1,2\n", "t").unwrap_err().to_string();
        assert!(e.contains("line 1: `1.5y`"), "{e}");
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("sgntk-io-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("sub").join("a.csv");
        write_atomic(&p, b"1\n").unwrap();
        write_atomic(&p, b"2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2\n");
        // A failing writer leaves the old file and no temporary.
        let r: Result<(), IoError> = write_via_temp(&p, false, |tmp| {
            std::fs::write(tmp, b"partial").unwrap();
            Err(IoError::Empty { path: "x".into() })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2\n");
        let q = dir.join("b.csv");
        write_all_atomic(&[(p.clone(), b"3\n".to_vec()), (q.clone(), b"4\n".to_vec())]).unwrap();
        assert_eq!(std::fs::read_to_string(&q).unwrap(), "4\n");
        let names = |d: &Path| -> Vec<String> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert!(
            names(&dir).iter().all(|n| !n.contains(".tmp-")),
            "{:?}",
            names(&dir)
        );
        assert!(names(&dir.join("sub")).iter().all(|n| !n.contains(".tmp-")));
        // Temporary names are unique and keep the extension when asked.
        let t1 = temp_path(&p, true);
        let t2 = temp_path(&p, true);
        assert_ne!(t1, t2);
        assert_eq!(t1.extension().unwrap(), "csv");
        assert_ne!(temp_path(&p, false).extension().unwrap(), "csv");
        // Output checks: a file where a directory should be, a directory where a file should be.
        assert!(check_out_dir(&dir.join("new").join("deeper")).is_ok());
        assert!(check_out_dir(&p).is_err());
        assert!(check_out_file(&dir).is_err());
        assert!(check_out_file(&p.join("x.csv")).is_err());
        assert!(check_out_file(&dir.join("made").join("x.csv")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// 256 cases from a fixed seed (CI sees the same cases every run); `PROPTEST_RNG_SEED=N`
    /// explores others.
    fn seeded() -> proptest::prelude::ProptestConfig {
        let mut config = proptest::prelude::ProptestConfig::with_cases(256);
        if config.rng_seed == proptest::test_runner::RngSeed::Random {
            config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x5947_4e54);
        }
        config
    }

    proptest::proptest! {
        #![proptest_config(seeded())]

        #[test]
        fn csv_reader_never_panics_on_csv_like_text(
            cells in proptest::collection::vec("[-+0-9.eE,\n\r\t #a-z\u{feff}\"]{0,12}", 0..12)
        ) {
            let _ = parse_csv(&cells.join(","), "t");
        }

        #[test]
        fn csv_reader_round_trips_random_numbers(
            rows in proptest::collection::vec(proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL, 3), 1..6)
        ) {
            let m = DMatrix::from_fn(rows.len(), 3, |r, c| rows[r][c]);
            let back = parse_csv(&to_csv(&m, Some(&["a", "b", "c"])), "t").unwrap();
            proptest::prop_assert_eq!(back, m);
        }
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
