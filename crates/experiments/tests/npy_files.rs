//! The `.npy` / `.npz` readers on files written by NumPy itself (`tests/data/npy/`, see its
//! README): every supported layout gives the numbers the fixture script wrote, and every
//! unsupported one a one-line error naming the file and the problem.

use std::path::PathBuf;

use sgntk_experiments::io::{read_matrix, read_train, write_matrix};
use sgntk_model::nalgebra::DMatrix;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/npy")
        .join(name)
}

/// The float64 array of `make_fixtures.py`.
fn x() -> DMatrix<f64> {
    DMatrix::from_row_slice(
        4,
        3,
        &[
            0.1,
            -2.5e-300,
            3.0,
            1e300,
            -0.0,
            7.25,
            0.30000000000000004,
            5e-324,
            -1.5,
            2.0,
            4.0,
            8.0,
        ],
    )
}

fn bits(m: &DMatrix<f64>) -> Vec<u64> {
    m.iter().map(|v| v.to_bits()).collect()
}

fn error(r: Result<impl std::fmt::Debug, impl std::fmt::Display>) -> String {
    let e = r.expect_err("an error").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn float64_files_in_every_layout_read_bit_for_bit() {
    for name in ["c_f64.npy", "be_f64.npy", "v2_f64.npy", "v3_f64.npy"] {
        let m = read_matrix(&fixture(name)).unwrap();
        assert_eq!(m.shape(), (4, 3), "{name}");
        assert_eq!(bits(&m), bits(&x()), "{name}");
    }
}

#[test]
fn float32_fortran_order_and_images() {
    let m = read_matrix(&fixture("f_f32.npy")).unwrap();
    let x32: [f32; 12] = [
        0.1, -2.5, 3.0, 1e30, -0.0, 7.25, 0.3, 1e-40, -1.5, 2.0, 4.0, 8.0,
    ];
    let want = DMatrix::from_row_slice(4, 3, &x32.map(f64::from));
    assert_eq!(bits(&m), bits(&want));
    // (2, 3, 2, 2) images: each point flattened row-major, arange(24) / 8.
    let img = read_matrix(&fixture("img_f32.npy")).unwrap();
    assert_eq!(img.shape(), (2, 12));
    for p in 0..2 {
        for j in 0..12 {
            assert_eq!(img[(p, j)], (12 * p + j) as f64 / 8.0);
        }
    }
}

#[test]
fn training_archives_and_arrays() {
    for name in ["train.npz", "train_compressed.npz"] {
        let (xt, yt) = read_train(&fixture(name), None).unwrap();
        assert_eq!(bits(&xt), bits(&x()), "{name}");
        assert_eq!(yt.as_slice(), &[1.0, -1.0, 0.5, 2.0], "{name}");
    }
    let e = error(read_train(&fixture("train.npz"), Some(2)));
    assert!(e.contains("train.npz[x]: 3 columns, expected 2"), "{e}");
    let e = error(read_train(&fixture("train_no_y.npz"), None));
    assert!(
        e.contains("no array `y`") && e.contains("holds x, z"),
        "{e}"
    );
    // A 2-D .npy training file: the last column is the target, as in CSV.
    let (xt, yt) = read_train(&fixture("c_f64.npy"), None).unwrap();
    assert_eq!(bits(&xt), bits(&x().columns(0, 2).into_owned()));
    assert_eq!(bits(&yt), bits(&x().columns(2, 1).into_owned()));
    let e = error(read_train(&fixture("img_f32.npy"), None));
    assert!(e.contains("img_f32.npy") && e.contains("2-D"), "{e}");
}

#[test]
fn unsupported_files_are_one_line_errors() {
    let cases = [
        ("i64.npy", "dtype `<i8` is not float32 or float64"),
        ("nan_f64.npy", "entry (0, 1) is NaN"),
        ("one_d.npy", "shape (3,): expected 2-D"),
        ("train.npz", "an .npz archive holds several arrays"),
    ];
    for (name, want) in cases {
        let e = error(read_matrix(&fixture(name)));
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    let dir = std::env::temp_dir().join(format!("sgntk-npy-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A truncated file and a CSV named .npy.
    let cut = dir.join("cut.npy");
    let bytes = std::fs::read(fixture("c_f64.npy")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let e = error(read_matrix(&cut));
    assert!(
        e.contains("93 data bytes, but shape (4, 3) of <f8 needs 96"),
        "{e}"
    );
    // No points: a (0, 2, 2, 1) image array, and one whose image size overflows.
    for (name, shape) in [
        ("none.npy", "(0, 2, 2, 1)"),
        ("huge.npy", "(0, 4294967296, 4294967296, 4294967296)"),
    ] {
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        std::fs::write(dir.join(name), b).unwrap();
        assert!(
            error(read_matrix(&dir.join(name))).contains("no data rows"),
            "{name}"
        );
    }
    let text = dir.join("text.npy");
    std::fs::write(&text, "1,2\n3,4\n").unwrap();
    assert!(error(read_matrix(&text)).contains("not a .npy file"));
    let cut = dir.join("cut.npz");
    let bytes = std::fs::read(fixture("train.npz")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(error(read_train(&cut, None)).contains("not an .npz"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn npy_output_reads_back_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("sgntk-npy-out-{}", std::process::id()));
    let p = dir.join("k.npy");
    write_matrix(&p, &x(), Some(&["a", "b", "c"])).unwrap();
    assert_eq!(bits(&read_matrix(&p).unwrap()), bits(&x()));
    // NumPy's own file of the same array has the same bytes (header, padding, data).
    assert_eq!(
        std::fs::read(&p).unwrap(),
        std::fs::read(fixture("c_f64.npy")).unwrap()
    );
    let e = error(write_matrix(&dir.join("k.npz"), &x(), None));
    assert!(e.contains("name it .npy"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
