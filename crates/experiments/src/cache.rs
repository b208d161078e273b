//! Resumable work: each finished unit of a long run (a chunk of trained networks) is saved under
//! `OUT/cache/` as JSON, keyed by every setting it depends on. Re-running the same command with the
//! same output directory loads finished units instead of recomputing them; JSON keeps f64 exactly,
//! so resumed results equal those of an uninterrupted run.

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
        let text = serde_json::to_string(&Entry { key, value }).map_err(|e| ExpError::output(&path, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exact_floats_and_compares_keys() {
        let dir = std::env::temp_dir().join(format!("sgntk-cache-test-{}", std::process::id()));
        let cache = Cache::new(&dir);
        let v = vec![0.1f64, 1.0 / 3.0, -2.5e-300, f64::MAX];
        let (got, hit) = cache.get_or_compute(&("a", 1), || Ok(v.clone())).unwrap();
        assert!(!hit);
        assert_eq!(got, v);
        let (again, hit) = cache
            .get_or_compute(&("a", 1), || -> Result<Vec<f64>, ExpError> { panic!("must not recompute") })
            .unwrap();
        assert!(hit);
        assert_eq!(again.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert!(cache.get::<Vec<f64>>(&("a", 2)).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
