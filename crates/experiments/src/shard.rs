//! Sharding a figure's work over independent processes (a Slurm job array, several machines on a
//! shared file system): shard K of N trains only its part of the figure's chunks and saves them in
//! `OUT/cache/`; a run without a shard then finds every chunk there and assembles the figure, with
//! the numbers of an unsharded run (every chunk is seeded and saved bit-exactly).
//!
//! The partition is deterministic and balanced by cost (longest job first onto the least-loaded
//! shard), so every shard process computes the same assignment without talking to the others.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0 ≤ index < count), written `K/N` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{}` is not a shard K/N with 0 ≤ K < N (e.g. 0/4)",
                sgntk_model::error::excerpt(s)
            )
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Which of `costs.len()` jobs belong to this shard (see [`assign`]).
    pub fn owns(&self, costs: &[f64]) -> Vec<bool> {
        assign(costs, self.count)
            .into_iter()
            .map(|s| s == self.index)
            .collect()
    }
}

/// The shard of every job: jobs in order of decreasing cost (ties: lower index first), each onto
/// the shard with the least total cost so far (ties: lower shard). Deterministic in `costs`.
///
/// With more shards than jobs, job j of that order lands on the empty shard j, so only the first
/// `costs.len()` shards are ever used: they alone are tracked (any shard count, even
/// `usize::MAX`, costs memory for the jobs only) and the shards beyond them own no job.
pub fn assign(costs: &[f64], shards: usize) -> Vec<usize> {
    let shards = shards.clamp(1, costs.len().max(1));
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; shards];
    let mut owner = vec![0; costs.len()];
    for j in order {
        let s = (0..shards)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("at least one shard");
        load[s] += costs[j];
        owner[j] = s;
    }
    owner
}

/// The cost of training `members` MLPs with layer widths `widths` for `steps` steps: proportional
/// to the number of parameters (a width-1000 network costs ~4× a width-500 one).
pub fn training_cost(widths: &[usize], members: usize, steps: usize) -> f64 {
    let params: usize = widths.windows(2).map(|w| w[1] * (w[0] + 1)).sum();
    params as f64 * members as f64 * steps.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("3/7".parse(), Ok(Shard { index: 3, count: 7 }));
        assert_eq!(" 0 / 1 ".parse(), Ok(Shard { index: 0, count: 1 }));
        for bad in ["7/7", "1/0", "a/2", "3", "-1/2", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
    }

    #[test]
    fn huge_shard_counts_own_one_job_each_or_none() {
        // `--shard 0/1000000000000` aborted and `0/18446744073709551615` panicked in `assign`.
        let costs = [3.0, 1.0, 2.0];
        for count in [3, 4, 1_000_000_000_000, usize::MAX] {
            assert_eq!(assign(&costs, count), vec![0, 2, 1], "{count} shards");
            let own = |index| Shard { index, count }.owns(&costs);
            assert_eq!(own(0), vec![true, false, false]);
            // the last shard owns job 1 when there are as many shards as jobs, else nothing
            let last: Vec<bool> = (0..3).map(|j| count == 3 && j == 1).collect();
            assert_eq!(own(count - 1), last);
        }
        assert_eq!(assign(&[], usize::MAX), Vec::<usize>::new());
    }

    #[test]
    fn partition_covers_every_job_once_and_balances_cost() {
        // 3 widths × 8 chunks; width 1000 costs ~4× width 500.
        let costs: Vec<f64> = [20usize, 500, 1000]
            .iter()
            .flat_map(|&n| (0..8).map(move |_| training_cost(&[2, n, n, 1], 1, 100)))
            .collect();
        for n in [1, 2, 4, 7] {
            let owner = assign(&costs, n);
            let mut load = vec![0.0; n];
            for (j, s) in owner.iter().enumerate() {
                assert!(*s < n);
                load[*s] += costs[j];
            }
            let owned: usize = (0..n)
                .map(|k| {
                    Shard { index: k, count: n }
                        .owns(&costs)
                        .iter()
                        .filter(|b| **b)
                        .count()
                })
                .sum();
            assert_eq!(owned, costs.len(), "every job in exactly one shard");
            let max = load.iter().cloned().fold(0.0, f64::max);
            let biggest = costs.iter().cloned().fold(0.0, f64::max);
            let mean = costs.iter().sum::<f64>() / n as f64;
            // LPT: the heaviest shard exceeds the mean by at most one job.
            assert!(max <= mean + biggest + 1e-9, "n = {n}: {load:?}");
            assert_eq!(owner, assign(&costs, n), "deterministic");
        }
        let r = training_cost(&[2, 1000, 1000, 1], 1, 1) / training_cost(&[2, 500, 500, 1], 1, 1);
        assert!((3.9..4.1).contains(&r), "{r}");
    }
}
