//! Saved networks: `sgntk train … --save FILE` writes every trained network with its
//! [`NetSpec`] and training settings; `sgntk kernel --empirical --load FILE`, `sgntk predict
//! --load FILE` and `sgntk train --load FILE --steps N` use them.
//!
//! The file is a [safetensors](https://github.com/huggingface/safetensors) file: an 8-byte
//! little-endian header length, a JSON header (each tensor's dtype, shape and byte range, and a
//! `__metadata__` map of strings), then the raw little-endian tensor data. Format version
//! [`FORMAT_VERSION`]:
//!
//! - tensors `param.0`, `param.1`, …: parameter i of every network, shape `[nets, len_i]`, in the
//!   order the network's forward reads them (W then b of each Dense layer, W row-major
//!   n_out × n_in, residual branches in place), in the precision the networks were trained in
//!   (F32 on every backend here; F64 for f64 devices);
//! - one metadata entry, `sgntk`: a JSON object with `format` = `sgntk-networks`,
//!   `format_version`, `sgntk_version`, `net_spec` (the [`NetSpec`], as in `--net` files) and
//!   `training` ([`Training`]: learning rule, learning rate, steps done, initialization seed,
//!   engine, backend, SHA-256 of the training data). One entry, because safetensors writes its
//!   metadata map in hash order: with one key the file's bytes are deterministic.
//!
//! Why safetensors rather than burn's record format: the networks here are not burn modules (an
//! [`Ensemble`] holds batched tensors, a [`FlatNet`] flat ones), the file must carry the NetSpec
//! and settings beside the numbers, and safetensors is a fixed, documented layout that NumPy and
//! PyTorch read directly (`safetensors.numpy.load_file(FILE)`, `safe_open(FILE, "np").metadata()`),
//! while burn's records follow burn's module structure and version. The crate is built with its
//! `alloc` feature only (the `std` feature would pull `tempfile` and change the features of
//! crates that wgpu uses).
//!
//! Format version 2 is version 1 plus the lowrank engine's carried state
//! ([`sgntk_model::fused::EngineState`]: W_base, the deferred low-rank factors, the carried
//! pre-activations and their counters of each managed layer), written when the last run left
//! one (sign/step MLPs with hidden layers of ≥ 256 units on the lowrank engine, the CPU
//! default): tensors `lowrank.L.FIELD` of shape `[nets, len]` (F32; `lowrank.L.counters` U64)
//! and `engine_state` in the metadata (the plan, widths, points, networks and layers it belongs
//! to). `train --load` continues from it when it runs the lowrank engine on the same data, so that
//! 500 + 500 steps are the 1000 steps bit for bit; everything else uses the `param.*` tensors (the
//! networks the state computes, its updates folded in). A file without such state is written as
//! version 1, so it stays readable by the sgntk that introduced the format.
//!
//! Why save the state rather than fold at fixed step numbers: a fold rounds differently from the
//! thin corrections it replaces and a recomputed pre-activation differs from the carried one in
//! the last bits, so a run restarted from folded weights is exact only if the uninterrupted run
//! also folded and recomputed at that very step — i.e. at every step a run might be saved at,
//! which is every step (the engine's point). Saving what the next step reads is exact at any
//! step and leaves the engine's arithmetic (and speed) as it was.
//!
//! Loading checks everything: the format name and version, the NetSpec (parsed and validated),
//! the tensors (exactly `param.0 …`, each `[nets, len_i]` with the lengths the NetSpec implies,
//! the same number of networks, F32 or F64) and the parameters' finiteness; any mismatch is a
//! one-line error naming the file.

use nalgebra::{DMatrix, DVector};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sgntk_model::burn::tensor::{DType, Device, Tensor, TensorData};
use sgntk_model::fused::{EngineState, StateArray, StateHeader};
use sgntk_model::{
    Engine, Ensemble, FlatNet, FlatParamModel, HostLayer, HostParams, LearningRule, MlpConfig,
    NetSpec,
};

use crate::error::ExpError;
use crate::io::IoError;

/// The `format` metadata of a saved-networks file.
pub const FORMAT: &str = "sgntk-networks";

/// The newest version of the file layout (written when the file carries an engine state; files
/// without one are written as version 1). Versions 1 and 2 are read.
pub const FORMAT_VERSION: u32 = 2;

/// Prefix of the engine-state tensors (format version 2).
const STATE_PREFIX: &str = "lowrank.";

/// The file's one metadata entry (see the module docs).
pub const METADATA_KEY: &str = "sgntk";

/// How the saved networks were trained (the `training` metadata).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// GD or SGL with its surrogate.
    pub rule: LearningRule,
    /// Learning rate η.
    pub lr: f64,
    /// Full-batch steps done so far (over every run that trained these networks).
    pub steps: usize,
    /// Initialization seed (network k was drawn from stream k).
    pub seed: u64,
    /// The engine of the last run.
    pub engine: Engine,
    /// The backend of the last run.
    pub backend: String,
    /// SHA-256 of the last run's training data ([`data_sha256`]).
    pub data_sha256: String,
}

/// SHA-256 (hex) of a training set: the inputs, then the targets, as f64 little-endian in row
/// order.
pub fn data_sha256(x: &DMatrix<f64>, y: &DMatrix<f64>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for m in [x, y] {
        for v in m.transpose().iter() {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Trained networks of one [`NetSpec`].
#[derive(Clone, Debug)]
pub enum Networks {
    /// An MLP ensemble (the batched engines).
    Batched(Ensemble),
    /// Networks of any other NetSpec, one [`FlatNet`] each.
    Flat(Vec<FlatNet<NetSpec>>),
}

impl Networks {
    /// Number of networks.
    pub fn len(&self) -> usize {
        match self {
            Networks::Batched(e) => e.members(),
            Networks::Flat(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each network's outputs on `x` (one `points × 1` matrix per network).
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<Vec<DMatrix<f64>>, ExpError> {
        Ok(match self {
            Networks::Batched(e) => e.predict(x)?,
            Networks::Flat(v) => v.iter().map(|n| n.predict(x)).collect::<Result<_, _>>()?,
        })
    }

    /// Parameter i of every network as (dtype, `[nets, len_i]`, little-endian bytes), in the
    /// order of the NetSpec's forward.
    fn parameters(&self) -> Vec<(Dtype, Vec<usize>, Vec<u8>)> {
        // A device tensor's entries as bytes in its own precision.
        fn bytes(data: TensorData, out: &mut Vec<u8>) -> Dtype {
            if data.dtype() == DType::F64 {
                data.iter::<f64>().for_each(|v| out.extend(v.to_le_bytes()));
                Dtype::F64
            } else {
                data.iter::<f32>().for_each(|v| out.extend(v.to_le_bytes()));
                Dtype::F32
            }
        }
        match self {
            Networks::Batched(e) => {
                let mut params = Vec::new();
                for layer in e.layers() {
                    let [n, o, i] = layer.weight.dims();
                    let mut w = Vec::new();
                    let dtype = bytes(layer.weight.to_data(), &mut w);
                    params.push((dtype, vec![n, o * i], w));
                    let mut b = Vec::new();
                    let dtype = bytes(layer.bias.to_data(), &mut b);
                    params.push((dtype, vec![n, o], b));
                }
                params
            }
            Networks::Flat(nets) => {
                let count = nets.first().map_or(0, |n| n.parameters().len());
                (0..count)
                    .map(|i| {
                        let mut out = Vec::new();
                        let mut dtype = Dtype::F32;
                        let mut len = 0;
                        for net in nets {
                            let p = net.parameters()[i].clone();
                            len = p.dims()[0];
                            dtype = bytes(p.into_data(), &mut out);
                        }
                        (dtype, vec![nets.len(), len], out)
                    })
                    .collect()
            }
        }
    }
}

/// Networks read from a file, with their description and history.
#[derive(Clone, Debug)]
pub struct Saved {
    /// The network description.
    pub spec: NetSpec,
    /// How they were trained.
    pub training: Training,
    /// The networks, on the device they were loaded to.
    pub networks: Networks,
    /// The lowrank engine's carried state after the last step (format version 2), if any.
    pub state: Option<EngineState>,
}

/// The bytes of a saved-networks file (see the module docs), with the engine's carried `state`
/// when the run left one.
pub fn to_bytes(
    spec: &NetSpec,
    training: &Training,
    networks: &Networks,
    state: Option<&EngineState>,
) -> Result<Vec<u8>, String> {
    let mut params = networks.parameters();
    let mut names: Vec<String> = (0..params.len()).map(|i| format!("param.{i}")).collect();
    if let Some(state) = state {
        let nets = state.header.members;
        for (name, len, values) in state.arrays() {
            let (dtype, bytes) = match values {
                StateArray::F32(v) => {
                    (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
                StateArray::U64(v) => {
                    (Dtype::U64, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
            };
            params.push((dtype, vec![nets, len], bytes));
            names.push(format!("{STATE_PREFIX}{name}"));
        }
    }
    let views = params
        .iter()
        .zip(&names)
        .map(|((dtype, shape, data), name)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut header = serde_json::json!({
        "format": FORMAT,
        "format_version": if state.is_some() { FORMAT_VERSION } else { 1 },
        "sgntk_version": env!("CARGO_PKG_VERSION"),
        "net_spec": spec,
        "training": training,
    });
    if let Some(state) = state {
        header["engine_state"] = serde_json::to_value(&state.header).map_err(|e| e.to_string())?;
    }
    let metadata = [(METADATA_KEY.to_string(), header.to_string())];
    safetensors::serialize(views, Some(metadata.into_iter().collect())).map_err(|e| e.to_string())
}

/// Writes `networks` with their description, history and carried engine `state` to `path`
/// (atomically).
pub fn save(
    path: &std::path::Path,
    spec: &NetSpec,
    training: &Training,
    networks: &Networks,
    state: Option<&EngineState>,
) -> Result<(), ExpError> {
    let bytes = to_bytes(spec, training, networks, state).map_err(|e| ExpError::output(path, e))?;
    Ok(crate::io::write_atomic(path, &bytes)?)
}

/// Reads a saved-networks file onto `device` (see the module docs for what is checked).
pub fn load(path: &std::path::Path, device: &Device) -> Result<Saved, ExpError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| IoError::File {
        path: name.clone(),
        source,
    })?;
    from_bytes(&bytes, &name, device)
}

/// The networks of a saved-networks file's bytes (read from `path`), on `device`.
pub fn from_bytes(bytes: &[u8], path: &str, device: &Device) -> Result<Saved, ExpError> {
    let bad = |reason: String| {
        ExpError::Io(IoError::Format {
            path: path.into(),
            reason,
        })
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        bad(format!(
            "corrupt or not a saved-networks file (safetensors: {})",
            crate::settings::one_line(&e)
        ))
    })?;
    let header: serde_json::Value = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .and_then(|text| serde_json::from_str(text).ok())
        .filter(|h: &serde_json::Value| h["format"] == FORMAT)
        .ok_or_else(|| {
            bad(format!(
                "not a saved-networks file (a safetensors file without the `{METADATA_KEY}` \
                 metadata of format \"{FORMAT}\")"
            ))
        })?;
    let version = header["format_version"]
        .as_u64()
        .filter(|v| (1..=2).contains(v));
    let Some(version) = version else {
        return Err(bad(format!(
            "saved-networks format version {}, but this sgntk ({}) reads versions 1 to \
             {FORMAT_VERSION}",
            header["format_version"],
            env!("CARGO_PKG_VERSION")
        )));
    };
    let spec: NetSpec = serde_json::from_value(header["net_spec"].clone())
        .map_err(|e| bad(format!("its net_spec does not parse: {e}")))?;
    spec.validate()
        .map_err(|e| bad(format!("its net_spec is not valid: {e}")))?;
    let training: Training = serde_json::from_value(header["training"].clone())
        .map_err(|e| bad(format!("its training settings do not parse: {e}")))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!(
            "corrupt saved-networks file (safetensors: {})",
            crate::settings::one_line(&e)
        ))
    })?;
    // The parameter lengths the NetSpec implies, from one network of it.
    let template = spec.init(0, 0, device)?;
    let lengths: Vec<usize> = template.parameters().iter().map(|p| p.dims()[0]).collect();
    let state_tensors = tensors
        .names()
        .iter()
        .filter(|n| n.starts_with(STATE_PREFIX))
        .count();
    if version < 2 && state_tensors > 0 {
        return Err(bad(format!(
            "format version 1 with `{STATE_PREFIX}*` tensors (engine state is version 2)"
        )));
    }
    if tensors.len() - state_tensors != lengths.len() {
        return Err(bad(format!(
            "{} tensors, but its net_spec has {} parameter tensors (param.0 … param.{}): \
             the tensors are from another network",
            tensors.len() - state_tensors,
            lengths.len(),
            lengths.len().saturating_sub(1)
        )));
    }
    let mut nets = None;
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(lengths.len());
    for (i, &len) in lengths.iter().enumerate() {
        let key = format!("param.{i}");
        let view = tensors.tensor(&key).map_err(|_| {
            bad(format!(
                "no tensor `{key}`: the tensors are from another network"
            ))
        })?;
        let n = *nets.get_or_insert(view.shape().first().copied().unwrap_or(0));
        if view.shape() != [n, len].as_slice() || n == 0 {
            return Err(bad(format!(
                "tensor `{key}` has shape {:?}, but its net_spec needs [{n}, {len}] \
                 (networks, parameters): the tensors are from another network",
                view.shape()
            )));
        }
        let v: Vec<f64> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            other => {
                return Err(bad(format!(
                    "tensor `{key}` is {other:?}, expected F32 or F64"
                )))
            }
        };
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "tensor `{key}` holds {} (network {}): not a usable network",
                v[j],
                j / len
            )));
        }
        values.push(v);
    }
    let nets = nets.unwrap_or(0);
    let member = |k: usize| -> Vec<&[f64]> {
        lengths
            .iter()
            .zip(&values)
            .map(|(&len, v)| &v[k * len..(k + 1) * len])
            .collect()
    };
    let networks = match MlpConfig::try_from(&spec) {
        Ok(config) => {
            let params: Vec<HostParams> = (0..nets)
                .map(|k| {
                    member(k)
                        .chunks_exact(2)
                        .zip(config.widths.windows(2))
                        .map(|(wb, io)| HostLayer {
                            weight: DMatrix::from_row_slice(io[1], io[0], wb[0]),
                            bias: DVector::from_column_slice(wb[1]),
                        })
                        .collect()
                })
                .collect();
            Networks::Batched(Ensemble::from_host(&config, &params, device)?)
        }
        Err(_) => Networks::Flat(
            (0..nets)
                .map(|k| {
                    let mut net = template.clone();
                    net.set_parameters(
                        member(k)
                            .into_iter()
                            .map(|p| {
                                Tensor::from_data(TensorData::new(p.to_vec(), [p.len()]), device)
                            })
                            .collect(),
                    );
                    net
                })
                .collect(),
        ),
    };
    let state = match header.get("engine_state") {
        Some(h) if version >= 2 => {
            let h: StateHeader = serde_json::from_value(h.clone())
                .map_err(|e| bad(format!("its engine_state does not parse: {e}")))?;
            if h.members != nets {
                return Err(bad(format!(
                    "its engine state is of {} networks, the file holds {nets}",
                    h.members
                )));
            }
            let array = |name: &str| {
                let view = tensors.tensor(&format!("{STATE_PREFIX}{name}")).ok()?;
                let chunks = |n: usize| view.data().chunks_exact(n);
                match view.dtype() {
                    Dtype::F32 => Some(StateArray::F32(
                        chunks(4)
                            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                            .collect(),
                    )),
                    Dtype::U64 => Some(StateArray::U64(
                        chunks(8)
                            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                            .collect(),
                    )),
                    _ => None,
                }
            };
            let state = EngineState::from_arrays(h, array).map_err(bad)?;
            let used: usize = state.arrays().len();
            if used != state_tensors {
                return Err(bad(format!(
                    "{state_tensors} `{STATE_PREFIX}*` tensors, but its engine_state names {used}"
                )));
            }
            Some(state)
        }
        _ if state_tensors > 0 => {
            return Err(bad(format!(
                "`{STATE_PREFIX}*` tensors without the engine_state metadata"
            )))
        }
        _ => None,
    };
    Ok(Saved {
        spec,
        training,
        networks,
        state,
    })
}
