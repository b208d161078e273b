//! Property tests of the input readers (issue 13): random bytes and random numbers given to the
//! CSV reader, the `.npy` / `.npz` readers and the TOML settings reader give `Ok` or `Err`, never
//! a panic; random matrices round-trip through `.npy` bit for bit, in every layout NumPy writes.
//! Issue 25: random (huge) sizes in figure settings and random sweep grids are accepted only when
//! what they allocate fits into memory (the checks of the CLI's flags), and grid sizes never wrap.

use proptest::prelude::*;
use sgntk_experiments::io::{parse_csv, parse_npy_points, to_npy};
use sgntk_experiments::npy::{parse_npz, to_npz};
use sgntk_experiments::sweep::{SweepSpec, MAX_GRID_POINTS};
use sgntk_experiments::{Preset, Settings};
use sgntk_model::limits::available_memory;
use sgntk_model::nalgebra::DMatrix;

/// Settings keys with a number or a list of numbers as value.
const KEYS: [&str; 14] = [
    "widths",
    "nets",
    "steps",
    "chunk",
    "grid",
    "lr",
    "depth",
    "sigma_w",
    "sigma_b",
    "kappa",
    "train_points",
    "data_seed",
    "ms",
    "record_steps",
];
const TABLES: [&str; 7] = ["fig1", "fig2", "fig3a", "fig3b", "b1", "b2", "nope"];

/// A TOML number of any kind: small, huge, negative, fractional, special.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (0u64..64).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        (-1e3f64..1e3).prop_map(|v| format!("{v:?}")),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("nan".to_string()),
        Just("1e400".to_string()),
        Just("\"7\"".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        number(),
        prop::collection::vec(number(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
    ]
}

/// 256 cases from a fixed seed (CI sees the same cases every run); `PROPTEST_RNG_SEED=N`
/// explores others.
fn seeded() -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(256);
    if config.rng_seed == proptest::test_runner::RngSeed::Random {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x5947_4e54);
    }
    config
}

fn settings() -> Settings {
    Settings::preset(Preset::Quick)
}

proptest! {
    #![proptest_config(seeded())]

    #[test]
    fn toml_reader_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = settings().with_overrides(&String::from_utf8_lossy(&bytes), "t.toml");
    }

    #[test]
    fn toml_reader_never_panics_on_random_numbers(
        entries in prop::collection::vec((0..TABLES.len(), 0..KEYS.len(), value()), 0..6)
    ) {
        // Each table once, each key once: valid TOML, so the settings' own checks decide.
        let mut tables: std::collections::BTreeMap<usize, std::collections::BTreeMap<usize, String>> =
            Default::default();
        for (t, k, v) in entries {
            tables.entry(t).or_default().insert(k, v);
        }
        let mut text = String::new();
        for (t, keys) in tables {
            text.push_str(&format!("[{}]\n", TABLES[t]));
            for (k, v) in keys {
                text.push_str(&format!("{} = {v}\n", KEYS[k]));
            }
        }
        let _ = settings().with_overrides(&text, "t.toml");
    }

    #[test]
    fn csv_reader_never_panics_on_random_numbers(
        rows in prop::collection::vec(prop::collection::vec(number(), 1..4), 0..6)
    ) {
        let text: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        let _ = parse_csv(&text.join("\n"), "t.csv");
    }

    #[test]
    fn csv_reader_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_csv(&String::from_utf8_lossy(&bytes), "t.csv");
    }
}

/// A size: small, a power of ten up to 10^19, or any u64 (usize on 64-bit targets).
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..40,
        (0u32..20).prop_map(|k| 10u64.pow(k)),
        any::<u64>(),
    ]
}

/// Keys of a figure table that set a size.
const SIZE_KEYS: [&str; 7] = [
    "widths",
    "depth",
    "grid",
    "nets",
    "chunk",
    "train_points",
    "record_steps",
];

/// A `.npy` file written independently of the crate's writer: header `dict` (version 1.0,
/// unpadded), then `data`.
fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A finite f64 of any magnitude (normal, subnormal, ±0).
fn finite() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO
}

proptest! {
    #![proptest_config(seeded())]

    /// Accepted settings allocate only what fits: every network (chunk × parameters), the grid's
    /// matrices and the recorded slices — so no figure run aborts in an allocation.
    #[test]
    fn accepted_figure_sizes_fit_into_memory(
        entries in prop::collection::vec((0..4usize, 0..SIZE_KEYS.len(), size()), 1..4)
    ) {
        let tables = ["fig1", "fig3a", "b1", "b2"];
        let mut doc: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, String>> =
            Default::default();
        for (t, k, v) in entries {
            let (table, key) = (tables[t], SIZE_KEYS[k]);
            if table == "b1" && !["grid", "train_points"].contains(&key) {
                continue;
            }
            let value = match key {
                "widths" => format!("[{v}]"),
                "record_steps" => format!("[{}]", v.max(1)),
                _ => v.to_string(),
            };
            doc.entry(table).or_default().insert(key, value);
        }
        let mut text = String::new();
        for (t, keys) in &doc {
            text.push_str(&format!("[{t}]\n"));
            for (k, v) in keys {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        let Ok(s) = settings().with_overrides(&text, "t.toml") else {
            return Ok(());
        };
        let memory = u128::from(available_memory());
        let fits = |what: &str, factors: &[u128]| {
            let bytes = factors.iter().fold(1u128, |a, b| a.saturating_mul(*b));
            prop_assert!(bytes <= memory, "{what}: {bytes} bytes accepted by {text}");
            Ok(())
        };
        let mlp = |w: usize, depth: usize| -> u128 {
            let (w, d) = (w as u128, depth as u128);
            w * 3 + w * (w + 1) * (d - 2) + (w + 1)
        };
        for f in [&s.fig3a, &s.b2] {
            for &w in &f.widths {
                fits("fig3a networks", &[mlp(w, f.training.depth), f.chunk as u128, 16])?;
            }
            let g = f.points.grid as u128;
            fits("fig3a grid", &[g, g, 8])?;
        }
        let k = &s.fig1;
        for &w in &k.widths {
            fits("fig1 networks", &[mlp(w, k.training.depth), k.chunk as u128, 16])?;
        }
        fits(
            "fig1 slices",
            &[
                k.record_steps.len() as u128 + 2,
                k.nets as u128,
                k.widths.len() as u128,
                k.ms.len() as u128,
                k.points.grid as u128,
                8,
            ],
        )?;
        fits("b1 grid", &[s.b1.points.grid as u128, 64])?;
    }

    /// A sweep grid of any shape: its size is the exact product (never wrapped), accepted only up
    /// to the limit, and `points` lists exactly that many grid points.
    #[test]
    fn sweep_grid_sizes_never_wrap(
        // an empty list now and then; with many keys the product passes 2^64 (and a wrapped
        // product with 64 factors of 2 would be 0)
        lengths in prop::collection::vec(prop_oneof![20 => 1usize..5, 1 => Just(0usize)], 1..70)
    ) {
        let mut text = String::from("figure = \"3a\"\n[grid]\n");
        for (i, n) in lengths.iter().enumerate() {
            let values: Vec<String> = (0..*n).map(|v| v.to_string()).collect();
            text.push_str(&format!("k{i} = [{}]\n", values.join(", ")));
        }
        let spec: SweepSpec = toml::from_str(&text).unwrap();
        let exact = lengths.iter().fold(1u128, |a, n| a.saturating_mul(*n as u128));
        match spec.grid_size() {
            Ok(n) => {
                prop_assert_eq!(n as u128, exact);
                prop_assert!(n <= MAX_GRID_POINTS);
                prop_assert_eq!(spec.points(std::path::Path::new("o")).len(), n);
            }
            Err(e) => {
                prop_assert!(exact > MAX_GRID_POINTS as u128, "{e}");
                prop_assert!(e.contains("grid points"), "{e}");
            }
        }
    }

    #[test]
    fn npy_reader_never_panics_on_random_bytes(
        head in prop::collection::vec(any::<u8>(), 0..16),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut b = b"\x93NUMPY".to_vec();
        b.extend(head);
        b.extend(bytes.iter().copied());
        let _ = parse_npy_points(&b, "t.npy");
        let _ = parse_npy_points(&bytes, "t.npy");
    }

    #[test]
    fn npy_reader_never_panics_on_random_headers(
        dict in "[{}()',: a-z_0-9<>=|TrueFalsL]{0,80}",
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = parse_npy_points(&npy_bytes(&dict, &data), "t.npy");
    }

    #[test]
    fn npy_round_trips_random_matrices(
        rows in 1usize..6, cols in 1usize..5, seed in prop::collection::vec(finite(), 30)
    ) {
        let m = DMatrix::from_fn(rows, cols, |r, c| seed[r * cols + c]);
        let back = parse_npy_points(&to_npy(&m), "t.npy").unwrap();
        prop_assert_eq!(back.shape(), m.shape());
        for (a, b) in back.iter().zip(m.iter()) {
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn npy_reads_float32_either_byte_order_and_fortran_order(
        rows in 1usize..5, cols in 1usize..5, big in any::<bool>(), fortran in any::<bool>(),
        values in prop::collection::vec(prop::num::f32::NORMAL | prop::num::f32::ZERO, 20),
    ) {
        let m = DMatrix::from_fn(rows, cols, |r, c| values[r * cols + c]);
        // Stored order: rows of m (C), or columns (Fortran); each entry in the chosen byte order.
        let stored: Vec<f32> = if fortran { m.iter().copied().collect() } else { m.transpose().iter().copied().collect() };
        let data: Vec<u8> = stored
            .iter()
            .flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() })
            .collect();
        let dict = format!(
            "{{'descr': '{}f4', 'fortran_order': {}, 'shape': ({rows}, {cols}), }}",
            if big { '>' } else { '<' },
            if fortran { "True" } else { "False" }
        );
        let back = parse_npy_points(&npy_bytes(&dict, &data), "t.npy").unwrap();
        prop_assert_eq!(back, m.map(f64::from));
    }

    #[test]
    fn npz_reader_never_panics_on_damaged_archives(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let x = to_npy(&DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
        let y = to_npy(&DMatrix::from_row_slice(2, 1, &[5.0, 6.0]));
        let mut z = to_npz(&[("x", x), ("y", y)]).unwrap();
        for (i, v) in flips {
            let i = i.index(z.len());
            z[i] ^= v;
        }
        let _ = parse_npz(&z);
        let _ = parse_npz(&z[..cut.index(z.len())]);
    }
}
