//! Every curve, layer and probe of `tests/data/kernels.json` (an independent numpy
//! implementation, cross-checked against neural-tangents) to relative 1e-9 (absolute 1e-12 near 0);
//! `null` entries (the singular sign NTK) must be +∞.

use serde_json::Value;
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Surrogate};
use sgntk_ntk::{kernel_layers, kernel_matrix, KernelKind, KernelSpec};

fn reference() -> Value {
    // Copied into the repository (see tests/data/README.md for its provenance).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kernels.json");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reference kernels not found at {path} ({e})"));
    serde_json::from_str(&text).expect("kernels.json is valid JSON")
}

/// (kind, spec) for a reference name such as `sgntk_erf5_erfp`.
fn parse(name: &str) -> (KernelKind, KernelSpec) {
    let parts: Vec<&str> = name.split('_').collect();
    let kind = match parts[0] {
        "nngp" => KernelKind::Nngp,
        "ntk" => KernelKind::Ntk,
        "sgntk" => KernelKind::SgNtk,
        other => panic!("unknown kernel {other}"),
    };
    let activation = match parts[1] {
        "sign" => Activation::Sign,
        s => Activation::Erf {
            m: s.trim_start_matches("erf").parse().unwrap(),
        },
    };
    (
        kind,
        KernelSpec::paper(activation, Surrogate::ErfPrime { a: 1.0 }),
    )
}

struct Check {
    max_rel: f64,
    count: usize,
}

impl Check {
    fn cmp(&mut self, what: &str, got: f64, want: &Value) {
        self.count += 1;
        match want.as_f64() {
            None => assert!(
                want.is_null() && got == f64::INFINITY,
                "{what}: expected +inf, got {got}"
            ),
            Some(w) => {
                let err = (got - w).abs();
                assert!(
                    err <= (1e-9 * w.abs()).max(1e-12),
                    "{what}: got {got}, want {w} (err {err:e})"
                );
                if w.abs() > 1e-12 {
                    self.max_rel = self.max_rel.max(err / w.abs());
                }
            }
        }
    }
}

#[test]
fn reproduces_reference_curves_layers_and_probes() {
    let r = reference();
    let s = &r["settings"];
    assert_eq!(s["L"].as_u64(), Some(3));
    assert_eq!(s["sigma_w"].as_f64(), Some(1.0));
    assert_eq!(s["sigma_b"].as_f64(), Some(0.1));
    let alpha: Vec<f64> = r["alpha"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(alpha.len(), 181);
    let x0 = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let xa = DMatrix::from_fn(alpha.len(), 2, |i, j| {
        if j == 0 {
            alpha[i].cos()
        } else {
            alpha[i].sin()
        }
    });
    let probe: Vec<f64> = s["probe_points"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let p = DMatrix::from_row_slice(probe.len() / 2, 2, &probe);

    let mut check = Check {
        max_rel: 0.0,
        count: 0,
    };
    let names: Vec<String> = r["curves"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(names.len(), 12);
    for name in &names {
        let (kind, spec) = parse(name);
        let curve = kernel_matrix(&spec, kind, &x0, &xa).unwrap();
        for (j, want) in r["curves"][name].as_array().unwrap().iter().enumerate() {
            check.cmp(&format!("curves/{name}[{j}]"), curve[(0, j)], want);
        }
        let layers = kernel_layers(&spec, kind, &x0, &xa).unwrap();
        assert_eq!(layers.len(), 3);
        for (l, layer) in r["layers"][name].as_array().unwrap().iter().enumerate() {
            for (j, want) in layer.as_array().unwrap().iter().enumerate() {
                check.cmp(&format!("layers/{name}[{l}][{j}]"), layers[l][(0, j)], want);
            }
        }
        let k = kernel_matrix(&spec, kind, &p, &p).unwrap();
        for (i, row) in r["probe"][name].as_array().unwrap().iter().enumerate() {
            for (j, want) in row.as_array().unwrap().iter().enumerate() {
                check.cmp(&format!("probe/{name}[{i}][{j}]"), k[(i, j)], want);
            }
        }
    }
    // the SG-NTK probes are asymmetric and the test sees it
    let (kind, spec) = parse("sgntk_sign_erfp");
    let k = kernel_matrix(&spec, kind, &p, &p).unwrap();
    assert!((k[(0, 1)] - k[(1, 0)]).abs() > 1e-3);
    println!(
        "{} reference values, max relative error {:.3e}",
        check.count, check.max_rel
    );
}
