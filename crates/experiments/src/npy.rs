//! NumPy's binary array files: `.npy` (one array, format versions 1.0–3.0 as NumPy's
//! `numpy.lib.format` defines them) and `.npz` (a zip archive of `.npy` members, as `np.savez`
//! and `np.savez_compressed` write it).
//!
//! A `.npy` file is the magic `\x93NUMPY`, the format version (major, minor), the header length
//! (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), a header that is a Python
//! dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces
//! and a newline, then the raw array data in the order the header says. Read here: float32 and
//! float64 (`<f4`, `<f8`, big-endian `>f4`, `>f8`, native `=`), C or Fortran order, any number
//! of dimensions, returned as f64 in C (row-major) order; anything else is a one-line error naming
//! what the file holds. Written here: float64, little-endian, C order, version 1.0 (2.0 when the
//! header outgrows version 1's 65535 bytes).
//!
//! Written by hand rather than with `npyz` or `ndarray-npy`: both parse the header with
//! `py_literal`, whose `pest` dependency enables `memchr`'s default features (and `ndarray-npy`
//! `ndarray`'s and `byteorder`'s), and `zip` (for `.npz`) enables `memchr`'s and `indexmap`'s;
//! each of those changes the features of crates burn and wgpu are built with, which rebuilds
//! them (see CONTRIBUTING). The format is small and fixed; the tests read files written by
//! NumPy itself (`crates/experiments/tests/data/npy/`). Deflated `.npz` members are inflated by
//! `flate2` and checked with `crc32fast`, both already in the dependency tree with these features.

use std::io::Read as _;

/// An n-dimensional float array, as f64 in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// The entries in C order: the last index varies fastest.
    pub data: Vec<f64>,
}

/// `shape` as NumPy prints it: `(3, 4)`, `(5,)`, `()`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses a `.npy` file (see the module docs). The error is the reason, without the file name.
pub fn parse_npy(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return Err("corrupt .npy header (truncated)".into()),
        _ => {
            return Err(format!(
                ".npy format version {major}.{minor} (this sgntk reads 1.0, 2.0 and 3.0)"
            ))
        }
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| "corrupt .npy header (longer than the file)".to_string())?;
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "corrupt .npy header (not text)".to_string())?;
    let header = parse_header(text).map_err(|e| match e {
        Structured => "dtype is a structured (record) array, not float32 or float64".to_string(),
        Bad(e) => format!("corrupt .npy header ({e})"),
    })?;
    let (little, size) = header.dtype()?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {} overflows", shape_text(&header.shape)))?;
    let body = &bytes[end..];
    if Some(body.len()) != count.checked_mul(size) {
        return Err(format!(
            "{} data bytes, but shape {} of {} needs {}",
            body.len(),
            shape_text(&header.shape),
            header.descr,
            count.saturating_mul(size)
        ));
    }
    let stored: Vec<f64> = if size == 8 {
        body.chunks_exact(8)
            .map(|c| {
                let b: [u8; 8] = c.try_into().expect("8 bytes");
                if little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }
            })
            .collect()
    } else {
        body.chunks_exact(4)
            .map(|c| {
                let b: [u8; 4] = c.try_into().expect("4 bytes");
                f64::from(if little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                })
            })
            .collect()
    };
    let data = if header.fortran_order {
        fortran_to_c(&header.shape, &stored)
    } else {
        stored
    };
    Ok(Array {
        shape: header.shape,
        data,
    })
}

/// Entries stored in Fortran (column-major) order of `shape`, reordered to C order.
fn fortran_to_c(shape: &[usize], stored: &[f64]) -> Vec<f64> {
    // Fortran strides: the first index varies fastest.
    let mut strides = Vec::with_capacity(shape.len());
    let mut s = 1;
    for &d in shape {
        strides.push(s);
        s *= d;
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(stored.len());
    for _ in 0..stored.len() {
        let offset: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(stored[offset]);
        // Next C-order index: the last dimension fastest.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// The header dict of a `.npy` file.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// (little-endian, bytes per entry) of a float32 or float64 `descr`.
    fn dtype(&self) -> Result<(bool, usize), String> {
        let native_little = cfg!(target_endian = "little");
        let (order, kind) = self.descr.split_at(self.descr.len().min(1));
        let little = match order {
            "<" => Some(true),
            ">" => Some(false),
            "=" => Some(native_little),
            _ => None,
        };
        match (little, kind) {
            (Some(l), "f8") => Ok((l, 8)),
            (Some(l), "f4") => Ok((l, 4)),
            _ => Err(format!(
                "dtype `{}` is not float32 or float64 (convert with a.astype(np.float64))",
                self.descr
            )),
        }
    }
}

/// Why a header does not parse.
enum HeaderError {
    /// `descr` is a list of fields.
    Structured,
    /// Anything else.
    Bad(String),
}
use HeaderError::{Bad, Structured};

impl From<String> for HeaderError {
    fn from(e: String) -> Self {
        Bad(e)
    }
}

impl From<&str> for HeaderError {
    fn from(e: &str) -> Self {
        Bad(e.to_string())
    }
}

/// A value of the header dict.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header dict: exactly the keys `descr` (a string), `fortran_order` (True/False) and
/// `shape` (a tuple of non-negative integers), as NumPy requires.
fn parse_header(text: &str) -> Result<Header, HeaderError> {
    let mut p = Parser {
        s: text.trim_end().as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.space();
        if p.eat(b'}') {
            break;
        }
        let key = match p.value()? {
            Value::Str(k) => k,
            _ => return Err("a key that is not a string".into()),
        };
        p.space();
        p.expect(b':')?;
        p.space();
        if key == "descr" && p.s.get(p.i) == Some(&b'[') {
            return Err(Structured);
        }
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(d)) if descr.is_none() => descr = Some(d),
            ("fortran_order", Value::Bool(b)) if fortran.is_none() => fortran = Some(b),
            ("shape", Value::Tuple(t)) if shape.is_none() => shape = Some(t),
            ("descr", _) => return Err("`descr` is not a simple dtype string".into()),
            (k, _) => return Err(Bad(format!("unexpected or repeated key `{k}`"))),
        }
        p.space();
        if !p.eat(b',') {
            p.space();
            p.expect(b'}')?;
            break;
        }
    }
    if p.i != p.s.len() {
        return Err("text after the dict".into());
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
            descr,
            fortran_order,
            shape,
        }),
        _ => Err("`descr`, `fortran_order` or `shape` missing".into()),
    }
}

/// A cursor over the header's bytes.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.s.get(self.i).is_some_and(|&c| c != q && c != b'\\') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i])
                    .map_err(|_| "a string that is not text".to_string())?
                    .to_string();
                self.expect(q)?;
                Ok(Value::Str(text))
            }
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.space();
                    if self.eat(b')') {
                        break;
                    }
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                        self.i += 1;
                    }
                    let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                    let d = digits
                        .parse::<usize>()
                        .map_err(|_| format!("a shape entry that is not a size at byte {start}"))?;
                    self.eat(b'L'); // Python 2's long literal
                    dims.push(d);
                    self.space();
                    if !self.eat(b',') {
                        self.space();
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Value::Tuple(dims))
            }
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            _ => Err(format!("an unexpected value at byte {}", self.i)),
        }
    }
}

/// A `.npy` file of float64 entries `data` (C order) of shape `shape`: little-endian, C order,
/// format 1.0, its header padded so the data start at a multiple of 64 bytes (as NumPy does).
///
/// # Panics
/// If `data` does not have the product of `shape` entries.
pub fn to_npy(shape: &[usize], data: &[f64]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data"
    );
    let mut out = header(shape, data.len());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The `.npy` file (as [`to_npy`]: C order) of a `rows × cols` matrix given in column-major
/// order, transposed while it is encoded (in blocks of rows, so both sides stay in cache).
///
/// # Panics
/// If `column_major` does not have `rows · cols` entries.
pub fn to_npy_columns(rows: usize, cols: usize, column_major: &[f64]) -> Vec<u8> {
    assert_eq!(rows * cols, column_major.len(), "shape and data");
    const BLOCK: usize = 64;
    let mut out = header(&[rows, cols], column_major.len());
    let start = out.len();
    out.resize(start + 8 * column_major.len(), 0);
    let body = &mut out[start..];
    for r0 in (0..rows).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(rows);
        for c in 0..cols {
            for (r, v) in (r0..r1).zip(&column_major[c * rows + r0..c * rows + r1]) {
                let i = 8 * (r * cols + c);
                body[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

/// The magic, version, header length and header dict of a float64 C-order `.npy` file of
/// `shape`, padded with spaces and a newline to a multiple of 64 bytes; room for `entries` more.
fn header(shape: &[usize], entries: usize) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}",
        shape_text(shape)
    );
    // magic + version + length field + dict + padding + '\n' ≡ 0 (mod 64)
    let fits_v1 = dict.len() + 64 <= usize::from(u16::MAX);
    let prefix = if fits_v1 { 10 } else { 12 };
    let unpadded = prefix + dict.len() + 1;
    let header_len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let mut out = Vec::with_capacity(prefix + header_len + 8 * entries);
    out.extend_from_slice(MAGIC);
    if fits_v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// The members of a `.npz` archive: (name without `.npy`, the member's `.npy` bytes), in archive
/// order. Stored (`np.savez`) and deflated (`np.savez_compressed`) members are read, ZIP64
/// records included; each member's CRC-32 is checked.
pub fn parse_npz(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let corrupt = |what: &str| format!("corrupt .npz archive ({what})");
    let u16_at = |i: usize| -> Option<u64> {
        bytes
            .get(i..i + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u32_at = |i: usize| -> Option<u64> {
        bytes
            .get(i..i + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let u64_at = |i: usize| -> Option<u64> {
        bytes
            .get(i..i + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    // End of central directory: the last record with its signature (a comment may follow it).
    let lowest = bytes.len().saturating_sub(22 + 65535);
    let eocd = (lowest..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(i) == Some(0x0605_4b50))
        .ok_or_else(|| {
            if bytes.starts_with(MAGIC) {
                "a .npy file, not an .npz archive".to_string()
            } else {
                "not an .npz (zip) archive".to_string()
            }
        })?;
    let mut entries = u16_at(eocd + 10).ok_or_else(|| corrupt("end record"))?;
    let mut cd = u32_at(eocd + 16).ok_or_else(|| corrupt("end record"))?;
    if entries == 0xFFFF || cd == 0xFFFF_FFFF {
        // ZIP64: the locator right before the end record points at the ZIP64 end record.
        let locator = eocd
            .checked_sub(20)
            .filter(|&i| u32_at(i) == Some(0x0706_4b50))
            .ok_or_else(|| corrupt("ZIP64 locator"))?;
        let record = u64_at(locator + 8).ok_or_else(|| corrupt("ZIP64 locator"))? as usize;
        if u32_at(record) != Some(0x0606_4b50) {
            return Err(corrupt("ZIP64 end record"));
        }
        entries = u64_at(record + 32).ok_or_else(|| corrupt("ZIP64 end record"))?;
        cd = u64_at(record + 48).ok_or_else(|| corrupt("ZIP64 end record"))?;
    }
    let mut members = Vec::new();
    let mut at = usize::try_from(cd).map_err(|_| corrupt("directory offset"))?;
    for _ in 0..entries {
        if u32_at(at) != Some(0x0201_4b50) {
            return Err(corrupt("central directory"));
        }
        let field = |off: usize| u16_at(at + off).ok_or_else(|| corrupt("central directory"));
        let field32 = |off: usize| u32_at(at + off).ok_or_else(|| corrupt("central directory"));
        let (flags, method) = (field(8)?, field(10)?);
        let crc = field32(16)? as u32;
        let (mut packed, mut size) = (field32(20)?, field32(24)?);
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let mut local = field32(42)?;
        let name_bytes = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| corrupt("member name"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // ZIP64 extra field (id 1): the 64-bit values of the fields saturated at 0xFFFFFFFF.
        let extra_start = at + 46 + name_len;
        let mut e = extra_start;
        while e + 4 <= extra_start + extra_len {
            let (id, len) = (u16_at(e), u16_at(e + 2).unwrap_or(0) as usize);
            if id == Some(1) {
                let mut v = e + 4;
                for value in [&mut size, &mut packed, &mut local] {
                    if *value == 0xFFFF_FFFF {
                        *value = u64_at(v).ok_or_else(|| corrupt("ZIP64 field"))?;
                        v += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at = extra_start + extra_len + comment_len;
        if flags & 1 != 0 {
            return Err(format!("member `{name}` is encrypted"));
        }
        let local = usize::try_from(local).map_err(|_| corrupt("member offset"))?;
        if u32_at(local) != Some(0x0403_4b50) {
            return Err(corrupt("local header"));
        }
        let skip = |off: usize| u16_at(local + off).map(|v| v as usize);
        let data_start = local
            + 30
            + skip(26).ok_or_else(|| corrupt("local header"))?
            + skip(28).ok_or_else(|| corrupt("local header"))?;
        let raw = usize::try_from(packed)
            .ok()
            .and_then(|n| bytes.get(data_start..data_start.checked_add(n)?))
            .ok_or_else(|| corrupt(&format!("member `{name}` is truncated")))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .take(size.saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|e| corrupt(&format!("member `{name}`: {e}")))?;
                out
            }
            m => {
                return Err(format!(
                    "member `{name}` uses compression method {m} (np.savez and \
                     np.savez_compressed write 0 and 8)"
                ))
            }
        };
        if data.len() as u64 != size || crc32fast::hash(&data) != crc {
            return Err(corrupt(&format!(
                "member `{name}` fails its size or CRC check"
            )));
        }
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        members.push((key, data));
    }
    Ok(members)
}

/// A `.npz` archive (zip, members stored uncompressed, as `np.savez` writes) of `.npy` members
/// `name.npy`. Errors when the archive would exceed 4 GiB (no ZIP64 records are written).
pub fn to_npz(members: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let too_big = || "an .npz archive over 4 GiB".to_string();
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in members {
        let file = format!("{name}.npy");
        let offset = u32::try_from(out.len()).map_err(|_| too_big())?;
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let crc = crc32fast::hash(data);
        // version 2.0, no flags, stored, DOS time 00:00 date 1980-01-01
        let common = |v: &mut Vec<u8>| {
            for x in [20u16, 0, 0, 0, 0x21] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(file.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(file.as_bytes());
        out.extend_from_slice(data);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by: version 2.0
        common(&mut directory);
        // comment length, disk, internal and external attributes, local header offset
        for x in [0u16, 0, 0] {
            directory.extend_from_slice(&x.to_le_bytes());
        }
        directory.extend_from_slice(&0u32.to_le_bytes());
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(file.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).map_err(|_| too_big())?;
    let cd_size = u32::try_from(directory.len()).map_err(|_| too_big())?;
    let count = u16::try_from(members.len()).map_err(|_| "over 65535 arrays".to_string())?;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for x in [0u16, 0, count, count] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    u32::try_from(out.len()).map_err(|_| too_big())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_and_pads_like_numpy() {
        let data: Vec<f64> = vec![0.1 + 0.2, -0.0, f64::INFINITY, 1e-310, -3.5, 7.0];
        let bytes = to_npy(&[2, 3], &data);
        assert_eq!((bytes.len() - 8 * 6) % 64, 0, "data aligned to 64 bytes");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.data), bits(&data));
        assert_eq!(parse_npy(&to_npy(&[5], &[1.0; 5])).unwrap().shape, vec![5]);
        assert_eq!(parse_npy(&to_npy(&[], &[2.0])).unwrap().data, vec![2.0]);
    }

    #[test]
    fn fortran_order_is_reordered() {
        // shape (2, 3, 2) stored column-major: entry (i, j, k) at i + 2 j + 6 k.
        let shape = [2, 3, 2];
        let stored: Vec<f64> = (0..12).map(f64::from).collect();
        let c = fortran_to_c(&shape, &stored);
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..2 {
                    assert_eq!(c[i * 6 + j * 2 + k], (i + 2 * j + 6 * k) as f64);
                }
            }
        }
    }

    #[test]
    fn bad_headers_are_one_line_errors() {
        let with_header = |h: &str, data: &[u8]| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
            b.extend_from_slice(h.as_bytes());
            b.extend_from_slice(data);
            b
        };
        let cases = [
            (
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                "dtype `<i8`",
            ),
            (
                "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
                "dtype `<c16`",
            ),
            (
                "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
                "structured (record) array",
            ),
            ("{'descr': '<f8', 'shape': (1,), }", "missing"),
            (
                "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }",
                "corrupt",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
                "corrupt",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                "data bytes",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "corrupt",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } x",
                "corrupt",
            ),
        ];
        for (h, want) in cases {
            let e = parse_npy(&with_header(h, &[0; 8])).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{h}: {e}");
        }
        assert!(parse_npy(b"1,2\n3,4\n").unwrap_err().contains("not a .npy"));
        let mut v9 = to_npy(&[1], &[1.0]);
        v9[6] = 9;
        assert!(parse_npy(&v9).unwrap_err().contains("version 9.0"));
        let mut long = to_npy(&[1], &[1.0]);
        long[8] = 255;
        long[9] = 255;
        assert!(parse_npy(&long)
            .unwrap_err()
            .contains("longer than the file"));
    }

    #[test]
    fn npz_round_trips_and_rejects_damage() {
        let x = to_npy(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = to_npy(&[2], &[5.0, 6.0]);
        let z = to_npz(&[("x", x.clone()), ("y", y.clone())]).unwrap();
        let members = parse_npz(&z).unwrap();
        assert_eq!(members, vec![("x".to_string(), x), ("y".to_string(), y)]);
        // A flipped data byte fails the CRC; a cut archive has no end record.
        let mut bad = z.clone();
        bad[40] ^= 1;
        assert!(
            parse_npz(&bad).unwrap_err().contains("CRC"),
            "{:?}",
            parse_npz(&bad)
        );
        assert!(parse_npz(&z[..z.len() - 30]).is_err());
        assert!(parse_npz(&to_npy(&[1], &[1.0]))
            .unwrap_err()
            .contains("a .npy file"));
    }
}
