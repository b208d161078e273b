//! Size limits checked before allocating: one validator, [`check_memory`], for every entry point
//! whose memory grows with a user's numbers (widths, depth, networks, steps, grid points).
//!
//! A request is a product of named factors (e.g. networks × parameters × bytes each), multiplied
//! with overflow checks and compared with the memory this machine has, so an absurd size is a
//! one-line error naming what fits instead of an aborted allocation.

use std::fmt;

/// Memory assumed where `/proc/meminfo` cannot be read (16 GiB).
pub const FALLBACK_MEMORY: u64 = 16 << 30;

/// Bytes of memory a new allocation can use: the least of `MemAvailable` from `/proc/meminfo`
/// (else `MemTotal`, else [`FALLBACK_MEMORY`]), the address space left under this process's
/// `ulimit -v` (`/proc/self/limits` minus `VmSize`), and the memory left in its cgroup
/// (`memory.max` minus `memory.current`, cgroup v2).
pub fn available_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            kib.checked_mul(1024)
        })
    };
    let machine = field(&text, "MemAvailable")
        .or_else(|| field(&text, "MemTotal"))
        .unwrap_or(FALLBACK_MEMORY);
    let read = |p: &str| std::fs::read_to_string(p).ok();
    // `Max address space  <soft> <hard> bytes` (soft: "unlimited" or a number)
    let address_space = read("/proc/self/limits").and_then(|limits| {
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max address space"))?;
        let soft: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
        let used = read("/proc/self/status")
            .and_then(|s| field(&s, "VmSize"))
            .unwrap_or(0);
        Some(soft.saturating_sub(used))
    });
    let cgroup = read("/proc/self/cgroup").and_then(|c| {
        // cgroup v2: one line `0::/path`
        let rel = c.lines().find_map(|l| l.strip_prefix("0::"))?;
        let dir = format!("/sys/fs/cgroup{}", rel.trim_end_matches('/'));
        let max: u64 = read(&format!("{dir}/memory.max"))?.trim().parse().ok()?;
        let current: u64 = read(&format!("{dir}/memory.current"))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        Some(max.saturating_sub(current))
    });
    [Some(machine), address_space, cgroup]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(machine)
}

/// A request for more memory than the machine has (or than 64-bit sizes can count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryError {
    /// What would be allocated.
    pub what: String,
    /// The named factors of the request (the first one names what is counted).
    pub factors: Vec<(String, u64)>,
    /// Their product in bytes (`None`: it overflows 64 bits).
    pub bytes: Option<u64>,
    /// The memory of this machine, in bytes.
    pub limit: u64,
}

/// `bytes` in binary units, e.g. `23.4 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.factors.iter().map(|(n, _)| n.as_str()).collect();
        // u64::MAX stands for a count that itself overflowed (callers saturate).
        let values: Vec<String> = self
            .factors
            .iter()
            .map(|(_, v)| match *v {
                u64::MAX => "≥2^64".to_string(),
                v => v.to_string(),
            })
            .collect();
        let total = match self.bytes {
            Some(b) => format!("{} bytes ({})", b, human_bytes(b)),
            None => "more than 2^64 bytes".into(),
        };
        write!(
            f,
            "{}: {} = {} = {}, more than the {} of memory here",
            self.what,
            names.join(" × "),
            values.join(" × "),
            total,
            human_bytes(self.limit)
        )?;
        // What fits: the largest value of the first factor (every factor of that name, e.g.
        // grid points × grid points) with the others unchanged.
        if let Some((first, _)) = self.factors.first() {
            let same = self.factors.iter().filter(|(n, _)| n == first).count();
            let per = self
                .factors
                .iter()
                .filter(|(n, _)| n != first)
                .try_fold(1u64, |acc, (_, v)| acc.checked_mul(*v));
            if let Some(per) = per.filter(|p| *p > 0) {
                let budget = self.limit / per;
                let mut n = (budget as f64).powf(1.0 / same as f64).floor() as u64;
                // Correct the float root by one either way.
                let pow = |n: u64| n.checked_pow(same as u32).filter(|p| *p <= budget);
                while n > 0 && pow(n).is_none() {
                    n -= 1;
                }
                while pow(n + 1).is_some() {
                    n += 1;
                }
                write!(f, " (at most {n} {first} fit)")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for MemoryError {}

/// Requests of at most this many bytes (1 MiB) pass [`check_memory`] without reading the
/// machine's memory (a handful of files under `/proc`, ~0.1 ms — more than the work of many
/// small requests).
pub const SMALL_REQUEST: u64 = 1 << 20;

/// Checks that the product of `factors` (bytes) fits into this machine's memory
/// ([`available_memory`]; a request of at most [`SMALL_REQUEST`] bytes always fits) and
/// returns it. The product is computed with overflow checks, before anything is allocated; name
/// the first factor as what is counted (e.g. `networks`), and pass `u64::MAX` for a count that
/// itself overflowed. Several checks in a row: read [`available_memory`] once and call
/// [`check_memory_within`].
pub fn check_memory(what: &str, factors: &[(&str, u64)]) -> Result<u64, MemoryError> {
    match check_memory_within(what, factors, SMALL_REQUEST) {
        Ok(bytes) => Ok(bytes),
        Err(_) => check_memory_within(what, factors, available_memory()),
    }
}

/// [`check_memory`] against an explicit limit of `limit` bytes.
pub fn check_memory_within(
    what: &str,
    factors: &[(&str, u64)],
    limit: u64,
) -> Result<u64, MemoryError> {
    let bytes = factors
        .iter()
        .try_fold(1u64, |acc, (_, v)| acc.checked_mul(*v));
    match bytes {
        Some(b) if b <= limit => Ok(b),
        _ => Err(MemoryError {
            what: what.to_string(),
            factors: factors.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            bytes,
            limit,
        }),
    }
}

/// Parameters P of an MLP n_0 → width → … → width → n_out with `depth` weight layers (≥ 1),
/// counted with overflow checks: Σ_l n_l (n_{l−1} + 1) (`None` when it overflows 64 bits).
pub fn mlp_parameters(n0: usize, width: usize, depth: usize, n_out: usize) -> Option<u64> {
    let (n0, width, depth, n_out) = (n0 as u64, width as u64, depth as u64, n_out as u64);
    if depth <= 1 {
        return n_out.checked_mul(n0.checked_add(1)?);
    }
    let first = width.checked_mul(n0.checked_add(1)?)?;
    let hidden = width
        .checked_mul(width.checked_add(1)?)?
        .checked_mul(depth - 2)?;
    let last = n_out.checked_mul(width.checked_add(1)?)?;
    first.checked_add(hidden)?.checked_add(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflow_and_limits() {
        assert_eq!(check_memory_within("x", &[("a", 3), ("b", 4)], 12), Ok(12));
        let e =
            check_memory_within("the ensemble", &[("networks", 10), ("bytes", 4)], 20).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("networks × bytes = 10 × 4 = 40 bytes"), "{s}");
        assert!(s.contains("at most 5 networks fit"), "{s}");
        let e = check_memory_within(
            "grid",
            &[("points", 100), ("points", 100), ("bytes", 8)],
            800,
        );
        assert!(e.unwrap_err().to_string().contains("at most 10 points fit"));
        let e = check_memory_within("x", &[("layers", u64::MAX), ("bytes", 2)], 1 << 40);
        assert!(e.unwrap_err().to_string().contains("2^64"));
        // small requests pass without reading the machine's memory, large ones are read
        assert_eq!(
            check_memory("x", &[("a", 1 << 10), ("b", 1 << 10)]),
            Ok(1 << 20)
        );
        assert!(check_memory("x", &[("a", 1 << 40), ("b", 1 << 40)]).is_err());
        assert!(check_memory("x", &[("a", 1 << 62), ("b", 2)]).is_err());
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert!(available_memory() > 0);
    }

    #[test]
    fn parameter_count_matches_the_widths() {
        // 2 → 5 → 5 → 1: 5·3 + 5·6 + 1·6
        assert_eq!(mlp_parameters(2, 5, 3, 1), Some(51));
        assert_eq!(mlp_parameters(2, 5, 2, 1), Some(21));
        assert_eq!(mlp_parameters(2, 5, 1, 1), Some(3));
        assert_eq!(mlp_parameters(2, usize::MAX, 3, 1), None);
        assert_eq!(mlp_parameters(2, 1 << 20, usize::MAX, 1), None);
    }
}
