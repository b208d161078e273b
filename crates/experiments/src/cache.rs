//! Resumable work: each finished unit of a long run (a chunk of trained networks) is saved under
//! `OUT/cache/` as JSON, keyed by every setting it depends on. Re-running the same command with the
//! same output directory loads finished units instead of recomputing them. Numbers are stored
//! through [`exact`] (their bit patterns: serde_json's default float parser can be off by one unit in
//! the last place), so resumed results equal those of an uninterrupted run bit for bit.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ExpError;

/// A directory of finished units.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    key: serde_json::Value,
    value: T,
}

impl Cache {
    /// The cache in `out/cache`.
    pub fn new(out: &Path) -> Self {
        Cache {
            dir: out.join("cache"),
        }
    }

    /// Path of a key's file: a hash of its JSON text (the key itself is stored and compared).
    fn path(&self, key: &serde_json::Value) -> PathBuf {
        let mut h = DefaultHasher::new();
        key.to_string().hash(&mut h);
        self.dir.join(format!("{:016x}.json", h.finish()))
    }

    /// The saved value for `key`, if a finished unit with exactly this key exists.
    pub fn get<T: DeserializeOwned>(&self, key: &impl Serialize) -> Option<T> {
        let key = serde_json::to_value(key).ok()?;
        let text = std::fs::read_to_string(self.path(&key)).ok()?;
        let entry: Entry<T> = serde_json::from_str(&text).ok()?;
        (entry.key == key).then_some(entry.value)
    }

    /// Saves `value` under `key` (written to a temporary file, then renamed: a run interrupted
    /// while saving leaves no half-written unit).
    pub fn put<T: Serialize>(&self, key: &impl Serialize, value: &T) -> Result<(), ExpError> {
        let key = serde_json::to_value(key).map_err(|e| ExpError::output(&self.dir, e))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| ExpError::output(&self.dir, e))?;
        let path = self.path(&key);
        let tmp = path.with_extension("json.tmp");
        let text =
            serde_json::to_string(&Entry { key, value }).map_err(|e| ExpError::output(&path, e))?;
        std::fs::write(&tmp, text).map_err(|e| ExpError::output(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| ExpError::output(&path, e))
    }

    /// The saved value for `key`, or `compute()` saved under it.
    pub fn get_or_compute<K: Serialize, T: Serialize + DeserializeOwned>(
        &self,
        key: &K,
        compute: impl FnOnce() -> Result<T, ExpError>,
    ) -> Result<(T, bool), ExpError> {
        if let Some(v) = self.get(key) {
            return Ok((v, true));
        }
        let v = compute()?;
        self.put(key, &v)?;
        Ok((v, false))
    }
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

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct Unit {
        #[serde(with = "exact")]
        values: Vec<Vec<f64>>,
        #[serde(with = "exact")]
        pair: (f64, f64),
    }

    #[test]
    fn round_trips_exact_floats_and_compares_keys() {
        let dir = std::env::temp_dir().join(format!("sgntk-cache-test-{}", std::process::id()));
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
        let (got, hit) = cache.get_or_compute(&("a", 1), || Ok(v.clone())).unwrap();
        assert!(!hit);
        assert_eq!(got, v);
        let (again, hit) = cache
            .get_or_compute(&("a", 1), || -> Result<Unit, ExpError> {
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
        assert!(cache.get::<Unit>(&("a", 2)).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
