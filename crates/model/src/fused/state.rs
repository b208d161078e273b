//! The state the lowrank engine carries from one step to the next ([`EngineState`]), so that a
//! run can be saved and continued bit for bit (`sgntk train --save`, then `--load … --steps N`).
//!
//! On a layer that a [`Plan`] manages, the network after step t is W = W_base + Σ_s S_s B_sᵀ
//! (deferred updates) and the next forward product starts from the carried U = W A_{t−1} and
//! the A_{t−1} it was computed with (see [`Plan`]). The network those compute is W with the
//! updates folded in, but a fold rounds differently from the thin corrections, and a fresh U
//! differs from the carried one in the last bits — so a run continued from the folded weights
//! alone departs from the uninterrupted run after a few steps (units near 0 flip). Saving
//! W_base, the open pairs, the pattern they were absorbed against and the carried U with its
//! age and its A makes the continuation exact: every value the next step reads is restored.
//!
//! Layout: one [`LayerState`] per managed layer, each array holding every member's values one
//! after the other (member-major, `[members, len]`), lanes of 16 points flattened point-fastest.
//! [`EngineState::arrays`] names them for a file and [`EngineState::from_arrays`] reads them back,
//! checking every length against the [`StateHeader`].

use serde::{Deserialize, Serialize};

use super::lanes::LANES;
use super::net::Plan;
pub use super::net::{LayerState, COUNTERS};

/// What an [`EngineState`] belongs to: the plan, the training problem's shape and the members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateHeader {
    /// The plan that produced the state.
    pub plan: Plan,
    /// n_0 … n_L.
    pub widths: Vec<usize>,
    /// Training points d.
    pub points: usize,
    /// Networks.
    pub members: usize,
    /// The managed layers l (W^{l+1} maps width n_l to n_{l+1}), in order.
    pub layers: Vec<usize>,
}

/// The lowrank engine's state between steps, of every member of an ensemble.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineState {
    /// What it belongs to.
    pub header: StateHeader,
    /// One per managed layer, in the order of `header.layers`.
    pub layers: Vec<LayerState>,
}

/// One named array of an [`EngineState`]: every member's values, `[members, len]`.
#[derive(Clone, Debug, PartialEq)]
pub enum StateArray {
    /// f32 values.
    F32(Vec<f32>),
    /// Counters.
    U64(Vec<u64>),
}

impl StateArray {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            StateArray::F32(v) => v.len(),
            StateArray::U64(v) => v.len(),
        }
    }
}

impl StateArray {
    /// Whether it holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl StateHeader {
    /// Padded input width of layer `l`.
    fn stride(&self, l: usize) -> usize {
        self.widths[l].div_ceil(LANES) * LANES
    }

    fn panels(&self) -> usize {
        self.points.div_ceil(LANES)
    }

    /// The per-member length of each array of layer `l`, in [`LayerState`]'s field order.
    fn lengths(&self, l: usize) -> [(&'static str, usize); 7] {
        let (stride, n_out, p) = (self.stride(l), self.widths[l + 1], self.panels());
        let slots = self.plan.slots;
        [
            ("w_base", n_out * stride),
            ("factors", slots * p * n_out * LANES),
            ("factors_t", slots * p * LANES * stride),
            ("pattern", p * stride * LANES),
            ("carried", p * n_out * LANES),
            ("previous", p * stride * LANES),
            ("counters", COUNTERS),
        ]
    }
}

impl EngineState {
    /// Every array with its name `L.field` (L the layer index) and its per-member length.
    pub fn arrays(&self) -> Vec<(String, usize, StateArray)> {
        let mut out = Vec::new();
        for (&l, s) in self.header.layers.iter().zip(&self.layers) {
            let values = [
                StateArray::F32(s.w_base.clone()),
                StateArray::F32(s.factors.clone()),
                StateArray::F32(s.factors_t.clone()),
                StateArray::F32(s.pattern.clone()),
                StateArray::F32(s.carried.clone()),
                StateArray::F32(s.previous.clone()),
                StateArray::U64(s.counters.clone()),
            ];
            for ((name, len), v) in self.header.lengths(l).into_iter().zip(values) {
                out.push((format!("{l}.{name}"), len, v));
            }
        }
        out
    }

    /// The state of `header` from its arrays (named as [`EngineState::arrays`] names them);
    /// an error names the first array that is missing or of the wrong length or type.
    pub fn from_arrays(
        header: StateHeader,
        mut array: impl FnMut(&str) -> Option<StateArray>,
    ) -> Result<EngineState, String> {
        let depth = header.widths.len().saturating_sub(1);
        if let Some(&l) = header.layers.iter().find(|&&l| l + 1 >= depth.max(1)) {
            return Err(format!(
                "engine state of layer {l}, but the network has {depth} layers"
            ));
        }
        let mut layers = Vec::with_capacity(header.layers.len());
        for &l in &header.layers {
            let mut f32s = Vec::new();
            let mut counters = Vec::new();
            for (name, len) in header.lengths(l) {
                let key = format!("{l}.{name}");
                let v = array(&key).ok_or_else(|| format!("no engine state `{key}`"))?;
                if v.len() != header.members * len {
                    return Err(format!(
                        "engine state `{key}` has {} values, expected {} networks × {len}",
                        v.len(),
                        header.members
                    ));
                }
                match (name, v) {
                    ("counters", StateArray::U64(c)) => counters = c,
                    (n, StateArray::F32(v)) if n != "counters" => f32s.push(v),
                    _ => return Err(format!("engine state `{key}` has the wrong type")),
                }
            }
            let mut f = f32s.into_iter();
            let mut next = || f.next().expect("six f32 arrays");
            layers.push(LayerState {
                w_base: next(),
                factors: next(),
                factors_t: next(),
                pattern: next(),
                carried: next(),
                previous: next(),
                counters,
            });
        }
        Ok(EngineState { header, layers })
    }
}
