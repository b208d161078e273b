//! A real task: the UCI optical handwritten digits (scikit-learn's `load_digits`; 1797 images of
//! 8 × 8 pixels with values 0–16, 10 classes; CC BY 4.0, provenance and checksum in
//! `crates/model/data/README.md`). The file is compiled into the library.
//!
//! **Inputs** are standardized per image (the choice of users of neural-tangents, whose kernels
//! depend on the inputs only through their inner products): x ← (x − mean(x)) / std(x) over the
//! 64 pixels, so every image has mean 0 and ‖x‖² = n_0 = 64. All inputs then lie on one sphere, as
//! the paper's inputs lie on the unit circle (docs/MATH.md §7): the first layer's pre-activation
//! variance q = σw²‖x‖²/n_0 + σb² (docs/MATH.md §1) is the same for every image, so the GP's prior
//! variance does not depend on how much ink a digit has, and only the angles between images
//! matter. Scaling by 1/16 instead keeps the ink: a "1" would have a third of the prior variance
//! of an "8". Every image has at least two distinct pixel values, so std(x) > 0.
//!
//! **Targets** are one-hot with the mean removed: y_c = 0.9 for the image's class c, −0.1 for the
//! other nine, so every target row sums to 0; the loss is L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² over the
//! d images and 10 outputs (docs/MATH.md §3), the prediction is the argmax of the 10 outputs.
//!
//! **Split**: [`Digits::split`] draws a seeded, stratified train/test split: each class gets its
//! share of both sets (largest remainders), the images of a class are drawn in an order shuffled
//! by the seed.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The compressed file (see the module docs).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Number of images.
pub const DIGITS_IMAGES: usize = 1797;
/// Pixels per image (8 × 8, row by row; as NHWC rows the shape is `[8, 8, 1]`).
pub const DIGITS_PIXELS: usize = 64;
/// Number of classes.
pub const DIGITS_CLASSES: usize = 10;
/// The one-hot target of the true class, and of the others (mean removed: the row sums to 0).
pub const DIGITS_TARGET: (f64, f64) = (0.9, -0.1);

/// The digits data set: raw pixel values and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// One row per image, the 64 raw pixel values 0–16.
    pub pixels: DMatrix<f64>,
    /// The class 0–9 of each image.
    pub labels: Vec<usize>,
}

/// Images of a split: standardized inputs, centred one-hot targets, labels and their indices
/// into the full data set.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitsSet {
    /// One standardized image per row (see the module docs).
    pub x: DMatrix<f64>,
    /// One row of 10 targets per image (0.9 for the class, −0.1 otherwise).
    pub y: DMatrix<f64>,
    /// The classes.
    pub labels: Vec<usize>,
    /// Row indices into [`Digits::pixels`].
    pub indices: Vec<usize>,
}

/// The digits data set (parsed from the copy compiled into the library).
pub fn digits() -> Result<Digits, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .map_err(|e| format!("the embedded digits file does not decompress: {e}"))?;
    let mut values = Vec::with_capacity(DIGITS_IMAGES * DIGITS_PIXELS);
    let mut labels = Vec::with_capacity(DIGITS_IMAGES);
    for (row, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != DIGITS_PIXELS + 1 {
            return Err(format!(
                "digits row {row} has {} columns, not 65",
                cells.len()
            ));
        }
        for (col, cell) in cells.iter().enumerate() {
            let v: f64 = cell
                .trim()
                .parse()
                .map_err(|_| format!("digits row {row}, column {col} is not a number"))?;
            let max = if col == DIGITS_PIXELS { 9.0 } else { 16.0 };
            if !(0.0..=max).contains(&v) || v.fract() != 0.0 {
                return Err(format!("digits row {row}, column {col}: {v} out of range"));
            }
            if col == DIGITS_PIXELS {
                labels.push(v as usize);
            } else {
                values.push(v);
            }
        }
    }
    if labels.len() != DIGITS_IMAGES {
        return Err(format!(
            "the digits file has {} rows, not 1797",
            labels.len()
        ));
    }
    Ok(Digits {
        pixels: DMatrix::from_row_slice(DIGITS_IMAGES, DIGITS_PIXELS, &values),
        labels,
    })
}

/// Each row standardized: (x − mean) / std over its entries (population std), so ‖x‖² = columns.
/// A constant row is left at 0.
pub fn standardize_rows(m: &DMatrix<f64>) -> DMatrix<f64> {
    let n = m.ncols() as f64;
    let mut out = m.clone();
    for mut row in out.row_iter_mut() {
        let mean = row.sum() / n;
        row.add_scalar_mut(-mean);
        let std = (row.norm_squared() / n).sqrt();
        if std > 0.0 {
            row /= std;
        }
    }
    out
}

/// One-hot targets with the mean removed: row i is 0.9 at `labels[i]`, −0.1 elsewhere.
pub fn centered_one_hot(labels: &[usize], classes: usize) -> DMatrix<f64> {
    let (hit, miss) = DIGITS_TARGET;
    DMatrix::from_fn(labels.len(), classes, |i, c| {
        if labels[i] == c {
            hit
        } else {
            miss
        }
    })
}

/// The class of each row: the argmax of its outputs (the first on ties; NaN never wins).
pub fn argmax_rows(f: &DMatrix<f64>) -> Vec<usize> {
    f.row_iter()
        .map(|r| {
            (0..r.len()).fold(0, |best, c| {
                if r[c] > r[best] || r[best].is_nan() {
                    c
                } else {
                    best
                }
            })
        })
        .collect()
}

impl Digits {
    /// The images `indices` as a [`DigitsSet`] (standardized inputs, centred one-hot targets).
    pub fn subset(&self, indices: &[usize]) -> DigitsSet {
        let raw = DMatrix::from_fn(indices.len(), DIGITS_PIXELS, |i, j| {
            self.pixels[(indices[i], j)]
        });
        let labels: Vec<usize> = indices.iter().map(|&i| self.labels[i]).collect();
        DigitsSet {
            x: standardize_rows(&raw),
            y: centered_one_hot(&labels, DIGITS_CLASSES),
            labels,
            indices: indices.to_vec(),
        }
    }

    /// A seeded, stratified split into `train` and `test` images (disjoint; see the module docs).
    /// Each class c with n_c images gets ⌊train·n_c/N⌋ or one more training images (largest
    /// remainders, ties to the smaller class label), the same for the test set from the rest.
    pub fn split(
        &self,
        train: usize,
        test: usize,
        seed: u64,
    ) -> Result<(DigitsSet, DigitsSet), String> {
        let n = self.labels.len();
        if train == 0 || test == 0 || train + test > n {
            return Err(format!(
                "a digits split needs train ≥ 1, test ≥ 1 and train + test ≤ {n} (got {train} + {test})"
            ));
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); DIGITS_CLASSES];
        for (i, &c) in self.labels.iter().enumerate() {
            by_class[c].push(i);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for class in &mut by_class {
            class.shuffle(&mut rng);
        }
        let sizes: Vec<usize> = by_class.iter().map(Vec::len).collect();
        let train_quota = quotas(&sizes, train);
        let rest: Vec<usize> = sizes.iter().zip(&train_quota).map(|(s, q)| s - q).collect();
        let test_quota = quotas(&rest, test);
        let (mut tr, mut te) = (Vec::new(), Vec::new());
        for (c, class) in by_class.iter().enumerate() {
            tr.extend_from_slice(&class[..train_quota[c]]);
            te.extend_from_slice(&class[train_quota[c]..train_quota[c] + test_quota[c]]);
        }
        tr.sort_unstable();
        te.sort_unstable();
        Ok((self.subset(&tr), self.subset(&te)))
    }
}

/// `total` items shared among groups of `sizes` in proportion (largest remainders; ties to the
/// earlier group), never more than a group has. Needs total ≤ Σ sizes.
fn quotas(sizes: &[usize], total: usize) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    let mut q: Vec<usize> = sizes.iter().map(|s| s * total / n).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    // remainder of s·total/n, as the numerator s·total mod n
    order.sort_by_key(|&c| std::cmp::Reverse((sizes[c] * total) % n));
    let mut left = total - q.iter().sum::<usize>();
    for &c in order.iter().cycle() {
        if left == 0 {
            break;
        }
        if q[c] < sizes[c] {
            q[c] += 1;
            left -= 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_file_is_the_published_one() {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(DIGITS_CSV_GZ);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
        );
        assert_eq!(DIGITS_CSV_GZ.len(), 57523);
    }

    #[test]
    fn digits_have_their_shape_and_classes() {
        let d = digits().unwrap();
        assert_eq!(d.pixels.shape(), (1797, 64));
        assert_eq!(d.labels.len(), 1797);
        let mut counts = [0usize; 10];
        d.labels.iter().for_each(|&c| counts[c] += 1);
        // scikit-learn's documented class counts (np.bincount(load_digits().target))
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert_eq!(d.pixels.max(), 16.0);
        assert_eq!(d.pixels.min(), 0.0);
        // the first image is a 0 (scikit-learn's digits.images[0], first two rows)
        let first: Vec<f64> = d.pixels.row(0).iter().take(16).copied().collect();
        let expect = [
            0., 0., 5., 13., 9., 1., 0., 0., 0., 0., 13., 15., 10., 15., 5., 0.,
        ];
        assert_eq!(first, expect);
        assert_eq!(&d.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // every image has std > 0, so standardizing never divides by 0
        let x = standardize_rows(&d.pixels);
        for r in x.row_iter() {
            assert!(r.sum().abs() < 1e-9);
            assert!((r.norm_squared() - 64.0).abs() < 1e-9);
        }
    }

    #[test]
    fn split_is_stratified_seeded_and_disjoint() {
        let d = digits().unwrap();
        let (tr, te) = d.split(500, 1000, 7).unwrap();
        assert_eq!((tr.x.shape(), tr.y.shape()), ((500, 64), (500, 10)));
        assert_eq!((te.x.shape(), te.y.shape()), ((1000, 64), (1000, 10)));
        let mut all: Vec<usize> = tr.indices.iter().chain(&te.indices).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1500, "train and test overlap");
        let count = |s: &DigitsSet, c| s.labels.iter().filter(|&&l| l == c).count() as f64;
        for c in 0..10 {
            let share = d.labels.iter().filter(|&&l| l == c).count() as f64 / 1797.0;
            assert!(
                (count(&tr, c) - 500.0 * share).abs() < 1.0,
                "class {c} train"
            );
            // the test set is drawn from what is left: within one of its share of the rest
            assert!(
                (count(&te, c) - 1000.0 * share).abs() < 2.0,
                "class {c} test"
            );
        }
        for (i, &k) in tr.indices.iter().enumerate() {
            assert_eq!(tr.labels[i], d.labels[k]);
            assert_eq!(argmax_rows(&tr.y)[i], d.labels[k]);
            assert!((tr.y.row(i).sum()).abs() < 1e-12);
        }
        assert_eq!(d.split(500, 1000, 7).unwrap(), (tr.clone(), te));
        assert_ne!(d.split(500, 1000, 8).unwrap().0.indices, tr.indices);
        assert!(d.split(1000, 800, 0).is_err());
        assert!(d.split(0, 10, 0).is_err());
        let (small, _) = d.split(10, 1787, 1).unwrap();
        assert_eq!(
            small
                .labels
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            10
        );
    }

    #[test]
    fn argmax_and_quotas() {
        let f = DMatrix::from_row_slice(2, 3, &[0.1, 0.5, 0.5, f64::NAN, -1.0, 2.0]);
        assert_eq!(argmax_rows(&f), vec![1, 2]);
        assert_eq!(quotas(&[5, 5, 10], 4), vec![1, 1, 2]);
        assert_eq!(quotas(&[1, 1, 1], 2), vec![1, 1, 0]);
        assert_eq!(quotas(&[3, 0], 3), vec![3, 0]);
    }
}
