//! Resumable work: each finished unit of a long run (a chunk of trained networks) is saved under
//! `OUT/cache/` as JSON, keyed by every setting it depends on. Re-running the same command with the
//! same output directory loads finished units instead of recomputing them. Numbers are stored
//! through [`exact`] (their bit patterns: serde_json's default float parser can be off by one unit in
//! the last place), so resumed results equal those of an uninterrupted run bit for bit.
//!
//! An entry is trusted only if everything checks out; otherwise a one-line warning goes to stderr
//! and the unit is recomputed (and the entry replaced):
//! - its header (format version [`FORMAT_VERSION`], the program version and the cache's
//!   *context*: the settings of this build and machine that decide the numbers besides the key —
//!   backend, engine, dtype, instruction set — see [`Cache::with_context`]) and its key equal the
//!   requested ones;
//! - a SHA-256 checksum over the canonical JSON text of header, key and value matches (one flipped
//!   bit anywhere is caught);
//! - the value parses and passes the caller's [`Validate`] check (shapes against the settings,
//!   finiteness), so a shortened, emptied or NaN-carrying entry is never used.
//!
//! File names are the SHA-256 of the canonical JSON of header and key (stable across Rust
//! releases and platforms). Entries are written to a uniquely named temporary file and renamed, so
//! an interrupted save leaves no half-written entry and concurrent runs on one output directory do
//! not collide (identical runs write identical entries; the last rename wins).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::ExpError;

/// Version of the entry format; entries of other versions are never read.
pub const FORMAT_VERSION: u32 = 2;

/// A check of a loaded (or freshly computed) value against what the caller expects, e.g. the
/// number of networks of a chunk and the length of each curve.
pub trait Validate {
    /// What the caller knows the value must look like.
    type Expect;
    /// `Err(reason)` if the value does not fit `expect` or carries non-finite numbers.
    fn check(&self, expect: &Self::Expect) -> Result<(), String>;
}

/// Checks a list of `rows` curves of `len` finite numbers each.
pub fn check_curves(what: &str, v: &[Vec<f64>], rows: usize, len: usize) -> Result<(), String> {
    if v.len() != rows {
        return Err(format!("{what}: {} curves, expected {rows}", v.len()));
    }
    for (i, c) in v.iter().enumerate() {
        if c.len() != len {
            return Err(format!("{what}[{i}]: {} numbers, expected {len}", c.len()));
        }
        check_finite(&format!("{what}[{i}]"), c)?;
    }
    Ok(())
}

/// Checks that every number is finite.
pub fn check_finite(what: &str, v: &[f64]) -> Result<(), String> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(j) => Err(format!("{what}: entry {j} is {}", v[j])),
        None => Ok(()),
    }
}

/// A directory of finished units.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    context: Value,
}

/// What went wrong with a stored entry.
enum Load<T> {
    Hit(T),
    Missing,
    Corrupt(String),
}

/// SHA-256 of `text` as lowercase hex.
fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// The cache in `out/cache`, with an empty context.
    pub fn new(out: &Path) -> Self {
        Cache {
            dir: out.join("cache"),
            context: Value::Null,
        }
    }

    /// The same cache with `context` (the settings of this build and machine that decide the
    /// numbers besides each key) made part of every entry's header and file name.
    pub fn with_context(self, context: Value) -> Self {
        Cache { context, ..self }
    }

    /// The directory of the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The header of every entry: format version, program version and context.
    fn header(&self) -> Value {
        json!({
            "format": FORMAT_VERSION,
            "program": format!("sgntk {}", env!("CARGO_PKG_VERSION")),
            "context": self.context,
        })
    }

    /// The canonical text that starts every entry of `key`: `{"header":…,"key":…,"value":`
    /// (serde_json writes object keys sorted, so the text of a `Value` is canonical).
    fn prefix(&self, key: &Value) -> String {
        format!("{{\"header\":{},\"key\":{},\"value\":", self.header(), key)
    }

    /// Path of a key's file: SHA-256 of the canonical JSON of header and key.
    pub fn path_of(&self, key: &impl Serialize) -> Result<PathBuf, ExpError> {
        let key = serde_json::to_value(key).map_err(|e| ExpError::output(&self.dir, e))?;
        Ok(self.path(&key))
    }

    fn path(&self, key: &Value) -> PathBuf {
        let id = json!({ "header": self.header(), "key": key }).to_string();
        self.dir.join(format!("{}.json", sha256_hex(&id)))
    }

    /// An entry's file text: `{"sha256":"<hex>","entry":BODY}` with BODY =
    /// `{"header":…,"key":…,"value":…}` and the checksum taken over BODY's exact bytes.
    fn encode(&self, key: &Value, value: &Value) -> String {
        let body = format!("{}{}}}", self.prefix(key), value);
        format!(
            "{{\"sha256\":\"{}\",\"entry\":{body}}}\n",
            sha256_hex(&body)
        )
    }

    fn load<T: DeserializeOwned + Validate>(
        &self,
        path: &Path,
        key: &Value,
        expect: &T::Expect,
    ) -> Load<T> {
        let bytes = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Load::Missing,
            Err(e) => return Load::Corrupt(format!("unreadable ({e})")),
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Load::Corrupt("not UTF-8 text".into());
        };
        let parts = text
            .trim_end()
            .strip_prefix("{\"sha256\":\"")
            .and_then(|t| t.split_once("\",\"entry\":"))
            .and_then(|(sha, rest)| Some((sha, rest.strip_suffix('}')?)));
        let Some((sha, body)) = parts else {
            return Load::Corrupt("not an entry of this format".into());
        };
        if sha256_hex(body) != sha {
            return Load::Corrupt("checksum mismatch".into());
        }
        let Some(value) = body
            .strip_prefix(&self.prefix(key))
            .and_then(|v| v.strip_suffix('}'))
        else {
            return Load::Corrupt("stored for other settings or another version".into());
        };
        let value: T = match serde_json::from_str(value) {
            Ok(v) => v,
            Err(e) => return Load::Corrupt(format!("unexpected contents ({e})")),
        };
        match value.check(expect) {
            Ok(()) => Load::Hit(value),
            Err(reason) => Load::Corrupt(reason),
        }
    }

    /// The saved value for `key`, if a finished, intact unit with exactly this key exists and
    /// passes `check(expect)`. A corrupted entry is reported on stderr and treated as missing.
    pub fn get<T: DeserializeOwned + Validate>(
        &self,
        key: &impl Serialize,
        expect: &T::Expect,
    ) -> Option<T> {
        let key = serde_json::to_value(key).ok()?;
        let path = self.path(&key);
        match self.load(&path, &key, expect) {
            Load::Hit(v) => Some(v),
            Load::Missing => None,
            Load::Corrupt(reason) => {
                eprintln!(
                    "warning: cache entry {} is corrupted ({reason}); ignoring it and recomputing",
                    path.display()
                );
                None
            }
        }
    }

    /// Saves `value` under `key` (written to a uniquely named temporary file, then renamed: a run
    /// interrupted while saving leaves no half-written unit, and concurrent runs do not collide).
    pub fn put<T: Serialize>(&self, key: &impl Serialize, value: &T) -> Result<(), ExpError> {
        let key = serde_json::to_value(key).map_err(|e| ExpError::output(&self.dir, e))?;
        let path = self.path(&key);
        let value = serde_json::to_value(value).map_err(|e| ExpError::output(&path, e))?;
        move_aside_unless_file(&path)?;
        crate::io::write_atomic(&path, self.encode(&key, &value).as_bytes())?;
        Ok(())
    }

    /// The saved value for `key`, or `compute()` saved under it. Loaded and computed values must
    /// pass `check(expect)`: a loaded one that does not is reported and recomputed; a computed
    /// one that does not is an error (it is not saved).
    pub fn get_or_compute<K: Serialize, T: Serialize + DeserializeOwned + Validate>(
        &self,
        key: &K,
        expect: &T::Expect,
        compute: impl FnOnce() -> Result<T, ExpError>,
    ) -> Result<(T, bool), ExpError> {
        if let Some(v) = self.get(key, expect) {
            return Ok((v, true));
        }
        let v = compute()?;
        if let Err(reason) = v.check(expect) {
            return Err(ExpError::output(
                &self.path_of(key)?,
                format!("the computed result is invalid ({reason}); not saved"),
            ));
        }
        self.put(key, &v)?;
        Ok((v, false))
    }
}

/// Moves whatever sits at an entry's path aside unless it is a regular file (or a link to one)
/// or nothing: a directory or a device there (recomputing means replacing the entry, whatever it
/// is) is renamed to `<entry>.moved-aside-<pid>-<nanos>` beside it, with a warning.
fn move_aside_unless_file(path: &Path) -> Result<(), ExpError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {}
        _ => return Ok(()),
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".moved-aside-{}-{nanos:09}", std::process::id()));
    let aside = path.with_file_name(name);
    std::fs::rename(path, &aside).map_err(|e| ExpError::output(path, e))?;
    eprintln!(
        "warning: cache entry {} was not a file; moved it to {}",
        path.display(),
        aside.display()
    );
    Ok(())
}

/// `#[serde(with = "exact")]`: f64 (also in vectors and pairs) stored as their IEEE bit patterns.
pub mod exact {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Types made of f64 with an exact integer representation.
    pub trait Bits: Sized {
        /// The representation.
        type Repr: Serialize + DeserializeOwned;
        /// To the representation.
        fn bits(&self) -> Self::Repr;
        /// From the representation.
        fn from_bits(r: Self::Repr) -> Self;
    }

    impl Bits for f64 {
        type Repr = u64;
        fn bits(&self) -> u64 {
            self.to_bits()
        }
        fn from_bits(r: u64) -> Self {
            f64::from_bits(r)
        }
    }

    impl<T: Bits> Bits for Vec<T> {
        type Repr = Vec<T::Repr>;
        fn bits(&self) -> Self::Repr {
            self.iter().map(Bits::bits).collect()
        }
        fn from_bits(r: Self::Repr) -> Self {
            r.into_iter().map(T::from_bits).collect()
        }
    }

    impl<A: Bits, B: Bits> Bits for (A, B) {
        type Repr = (A::Repr, B::Repr);
        fn bits(&self) -> Self::Repr {
            (self.0.bits(), self.1.bits())
        }
        fn from_bits(r: Self::Repr) -> Self {
            (A::from_bits(r.0), B::from_bits(r.1))
        }
    }

    /// Serializes the bit patterns.
    pub fn serialize<T: Bits, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.bits().serialize(s)
    }

    /// Deserializes the bit patterns.
    pub fn deserialize<'de, T: Bits, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::Repr::deserialize(d).map(T::from_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct Unit {
        #[serde(with = "exact")]
        values: Vec<Vec<f64>>,
        #[serde(with = "exact")]
        pair: (f64, f64),
    }

    impl Validate for Unit {
        type Expect = ();
        fn check(&self, _: &()) -> Result<(), String> {
            Ok(())
        }
    }

    /// `rows` curves of `len` finite numbers.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct Curves {
        #[serde(with = "exact")]
        curves: Vec<Vec<f64>>,
    }

    impl Validate for Curves {
        type Expect = (usize, usize);
        fn check(&self, &(rows, len): &(usize, usize)) -> Result<(), String> {
            check_curves("curves", &self.curves, rows, len)
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sgntk-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trips_exact_floats_and_compares_keys() {
        let dir = scratch("exact");
        let cache = Cache::new(&dir);
        // -0.9334303140640259 (an f32 widened to f64) comes back one ulp off through serde_json's
        // default float parser; the bit patterns come back exactly.
        let v = Unit {
            values: vec![
                vec![-0.9334303140640259, 0.1, 1.0 / 3.0],
                vec![-2.5e-300, f64::MAX],
            ],
            pair: (f64::INFINITY, -0.0),
        };
        // Keys with floats whose text does not round-trip through serde_json's parser still hit.
        let key = ("a", 1, -0.9334303140640259f64);
        let (got, hit) = cache.get_or_compute(&key, &(), || Ok(v.clone())).unwrap();
        assert!(!hit);
        assert_eq!(got, v);
        let (again, hit) = cache
            .get_or_compute(&key, &(), || -> Result<Unit, ExpError> {
                panic!("must not recompute")
            })
            .unwrap();
        assert!(hit);
        let bits = |u: &Unit| {
            u.values
                .concat()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&again), bits(&v));
        assert_eq!(again.pair.1.to_bits(), (-0.0f64).to_bits());
        assert!(cache.get::<Unit>(&("a", 2), &()).is_none());
        // Another context (engine, backend, dtype, …) or program never sees the entry.
        let other = Cache::new(&dir).with_context(json!({"engine": "explicit"}));
        assert!(other.get::<Unit>(&key, &()).is_none());
        assert_ne!(other.path_of(&key).unwrap(), cache.path_of(&key).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_names_are_stable_sha256_of_header_and_key() {
        let cache = Cache::new(Path::new("o")).with_context(json!({"backend": "flex"}));
        let id = format!(
            "{{\"header\":{{\"context\":{{\"backend\":\"flex\"}},\"format\":{FORMAT_VERSION},\"program\":\"sgntk {}\"}},\"key\":[\"a\",1]}}",
            env!("CARGO_PKG_VERSION")
        );
        let p = cache.path_of(&("a", 1)).unwrap();
        assert_eq!(
            p,
            Path::new("o/cache").join(format!("{}.json", sha256_hex(&id)))
        );
        // SHA-256 itself (FIPS 180-2 test vector).
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Every corruption of a stored entry is detected, reported and recomputed, never loaded.
    #[test]
    fn corrupted_entries_are_recomputed_never_loaded() {
        let dir = scratch("corrupt");
        let cache = Cache::new(&dir).with_context(json!({"engine": "fused"}));
        let good = Curves {
            curves: vec![vec![0.5, -1.25, 3.0], vec![2.0, 0.1, -0.3]],
        };
        let key = ("k", 7);
        let path = cache.path_of(&key).unwrap();
        let fresh = || {
            cache
                .get_or_compute(&key, &(2, 3), || Ok(good.clone()))
                .unwrap()
        };
        assert!(!fresh().1);
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(fresh().1);

        let u64_text = |x: f64| x.to_bits().to_string();
        let one_bit = |x: f64| f64::from_bits(x.to_bits() ^ 1);
        let nan = u64_text(f64::NAN);
        // A consistent checksum for a tampered body (to test the shape and finiteness checks
        // behind the checksum).
        let resealed = |body: String| {
            let body = body
                .strip_prefix(&format!("{{\"sha256\":\"{}\",\"entry\":", &stored[11..75]))
                .unwrap()
                .trim_end()
                .strip_suffix('}')
                .unwrap()
                .to_string();
            format!(
                "{{\"sha256\":\"{}\",\"entry\":{body}}}\n",
                sha256_hex(&body)
            )
        };
        let mut cases: Vec<(&str, String)> = vec![
            (
                "checksum mismatch",
                stored.replacen(&u64_text(0.5), &u64_text(one_bit(0.5)), 1),
            ),
            (
                "not valid|not an entry",
                stored[..stored.len() / 2].to_string(),
            ),
            ("not an entry", String::new()),
            (
                "curves[0]: entry 1 is NaN",
                resealed(stored.replacen(&u64_text(-1.25), &nan, 1)),
            ),
            (
                "curves[1]: 2 numbers, expected 3",
                resealed(stored.replacen(&format!(",{}]", u64_text(-0.3)), "]", 1)),
            ),
            (
                "curves: 1 curves, expected 2",
                resealed(stored.replacen(
                    &format!(",[{},{},{}]", u64_text(2.0), u64_text(0.1), u64_text(-0.3)),
                    "",
                    1,
                )),
            ),
            (
                "curves: 0 curves",
                resealed({
                    let a = stored.find("\"curves\":[").unwrap() + "\"curves\":[".len();
                    let b = stored.rfind("]]").unwrap() + 1;
                    format!("{}{}", &stored[..a], &stored[b..])
                }),
            ),
            (
                "unexpected contents",
                resealed(stored.replacen("\"curves\"", "\"curvez\"", 1)),
            ),
            (
                "other settings",
                resealed(stored.replacen("\"fused\"", "\"explicit\"", 1)),
            ),
        ];
        cases.push(("empty file", String::new()));
        let mut cases: Vec<(&str, Vec<u8>)> = cases
            .into_iter()
            .map(|(w, t)| (w, t.into_bytes()))
            .collect();
        let mut not_utf8 = stored.clone().into_bytes();
        not_utf8[40] = 0xff;
        cases.push(("not UTF-8", not_utf8));
        for (what, text) in cases {
            assert_ne!(text, stored.as_bytes(), "{what}");
            std::fs::write(&path, &text).unwrap();
            let mut computed = false;
            let (v, hit) = cache
                .get_or_compute(&key, &(2, 3), || {
                    computed = true;
                    Ok(good.clone())
                })
                .unwrap();
            assert!(!hit && computed, "{what}: loaded a corrupted entry");
            assert_eq!(v, good, "{what}");
            // ... and the entry was replaced by a good one.
            assert_eq!(std::fs::read_to_string(&path).unwrap(), stored, "{what}");
        }
        // A freshly computed invalid value is an error, not saved.
        let bad = Curves {
            curves: vec![vec![f64::NAN, 0.0, 0.0], vec![0.0; 3]],
        };
        let e = cache
            .get_or_compute(&("bad", 1), &(2, 3), || Ok(bad))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("computed result is invalid") && e.contains("NaN"),
            "{e}"
        );
        assert!(!cache.path_of(&("bad", 1)).unwrap().exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Many writers of the same entry at once (threads here; processes in the CLI tests): every
    /// save succeeds and the entry ends up intact.
    #[test]
    fn concurrent_saves_of_one_entry_do_not_collide() {
        let dir = scratch("concurrent");
        let cache = Cache::new(&dir);
        let v = Curves {
            curves: vec![vec![1.0, 2.0]],
        };
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        cache.put(&"same", &v).unwrap();
                    }
                });
            }
        });
        assert_eq!(cache.get::<Curves>(&"same", &(1, 2)), Some(v));
        let files: Vec<_> = std::fs::read_dir(dir.join("cache")).unwrap().collect();
        assert_eq!(files.len(), 1, "temporary files left: {files:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
