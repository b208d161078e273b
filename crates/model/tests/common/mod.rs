//! Helpers shared by the model tests.
#![allow(dead_code)]

pub mod finite_differences;

use sgntk_model::{data, BackendKind, TrainSet};

/// The flex (CPU) device.
pub fn flex() -> burn::tensor::Device {
    BackendKind::Flex.device().unwrap()
}

/// `n` points on the unit circle at angles drawn with `seed`, with the paper's targets.
pub fn circle_task(n: usize, seed: u64) -> TrainSet {
    let x = data::circle_points(&data::uniform_angles(n, seed));
    TrainSet {
        y: data::targets(&x),
        x,
    }
}
