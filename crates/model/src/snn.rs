//! A discrete-time leaky integrate-and-fire (LIF) spiking network trained by surrogate gradients
//! through time (BPTT with burn's autodiff), as an [`Architecture`] (a [`crate::FlatParamModel`]
//! through [`FlatNet`]).
//!
//! ```text
//! drive   = σw/√n_0 · W_in x + σb · b                      (the input x is presented at every step)
//! u_0 = 0, s_0 = 0
//! u_{t+1} = β u_t + drive + σw/√n · W_rec s_t − θ s_t      (leak, input, recurrence, reset by subtraction)
//! s_{t+1} = spike(u_{t+1} − θ)                             (Heaviside step through the surrogate op)
//! f(x)    = σw/√n · w_outᵀ r + σb · b_out,   r = (1/T) Σ_{t=1..T} s_t   (readout of the spike rates)
//! ```
//!
//! Every parameter is drawn i.i.d. N(0, 1) (NTK parameterization); the reset term stays in the
//! graph (its gradient flows through the surrogate). With T = 1 and β = 0 the network is a
//! one-hidden-layer step MLP with hidden bias σb · b − θ (tested).

use burn::tensor::{Device, Tensor};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::activation::{Activation, Surrogate};
use crate::error::ModelError;
use crate::flat::{flat_tensor, Architecture, FlatNet};
use crate::mlp::dense;
use crate::op::surrogate_activation;

/// Hyper-parameters of an LIF network.
#[derive(Clone, Debug, PartialEq)]
pub struct SnnConfig {
    /// Input dimension n_0.
    pub input_dim: usize,
    /// Number of LIF neurons n.
    pub width: usize,
    /// Simulation steps T.
    pub time_steps: usize,
    /// Membrane leak β ∈ [0, 1].
    pub beta: f64,
    /// Firing threshold θ > 0 (also the reset amount).
    pub theta: f64,
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
    /// Spike nonlinearity (the Heaviside [`Activation::Step`]; a smooth one such as `erf:m` gives
    /// "soft spikes" with a true Jacobian).
    pub spike: Activation,
}

impl SnnConfig {
    /// n LIF neurons on 2-D inputs, T steps, β = 0.9, θ = 1, σw = 1, σb = 0.1, Heaviside spikes.
    pub fn new(width: usize, time_steps: usize) -> Self {
        SnnConfig {
            input_dim: 2,
            width,
            time_steps,
            beta: 0.9,
            theta: 1.0,
            sigma_w: 1.0,
            sigma_b: 0.1,
            spike: Activation::Step,
        }
    }

    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |name: &'static str, value: f64, rule: &'static str| {
            ModelError::InvalidParameter { name, value, rule }
        };
        if self.input_dim == 0 || self.width == 0 || self.time_steps == 0 {
            return Err(ModelError::ShapeMismatch {
                what: "LIF network (input_dim, width, time_steps)".into(),
                expected: "all ≥ 1".into(),
                got: format!("{}, {}, {}", self.input_dim, self.width, self.time_steps),
            });
        }
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(bad("beta", self.beta, "must be in [0, 1]"));
        }
        if !(self.theta.is_finite() && self.theta > 0.0) {
            return Err(bad("theta", self.theta, "must be finite and > 0"));
        }
        crate::mlp::check_scales(self.sigma_w, self.sigma_b, 1.0)?;
        Ok(())
    }
}

/// Host copy of an LIF network's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SnnParams {
    /// W_in, n × n_0.
    pub w_in: DMatrix<f64>,
    /// W_rec, n × n.
    pub w_rec: DMatrix<f64>,
    /// b, n.
    pub b: DVector<f64>,
    /// w_out, n.
    pub w_out: DVector<f64>,
    /// b_out.
    pub b_out: f64,
}

impl SnnParams {
    /// i.i.d. N(0, 1) parameters from `seed` (ChaCha8; W_in, W_rec, b, w_out, b_out in order).
    pub fn init(config: &SnnConfig, seed: u64) -> Self {
        Self::init_member(config, seed, 0)
    }

    /// Member `k` of an ensemble seeded with `seed`: ChaCha8 seeded with `seed`, on stream `k`
    /// (member 0 is [`SnnParams::init`]).
    pub fn init_member(config: &SnnConfig, seed: u64, k: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        let mut normal = move || -> f64 { StandardNormal.sample(&mut rng) };
        let (n, n0) = (config.width, config.input_dim);
        SnnParams {
            w_in: DMatrix::from_fn(n, n0, |_, _| normal()),
            w_rec: DMatrix::from_fn(n, n, |_, _| normal()),
            b: DVector::from_fn(n, |_, _| normal()),
            w_out: DVector::from_fn(n, |_, _| normal()),
            b_out: normal(),
        }
    }
}

/// An LIF network with its parameters on a device.
pub type Snn = FlatNet<SnnConfig>;

impl Snn {
    /// A network drawn from `seed`.
    pub fn init(config: &SnnConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        Self::from_host(config, &SnnParams::init(config, seed), device)
    }

    /// A network with explicit parameters.
    pub fn from_host(
        config: &SnnConfig,
        p: &SnnParams,
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let (n, n0) = (config.width, config.input_dim);
        if p.w_in.shape() != (n, n0)
            || p.w_rec.shape() != (n, n)
            || p.b.len() != n
            || p.w_out.len() != n
        {
            return Err(ModelError::ShapeMismatch {
                what: "LIF parameters".into(),
                expected: format!("W_in {n}x{n0}, W_rec {n}x{n}, b {n}, w_out {n}"),
                got: format!(
                    "W_in {:?}, W_rec {:?}, b {}, w_out {}",
                    p.w_in.shape(),
                    p.w_rec.shape(),
                    p.b.len(),
                    p.w_out.len()
                ),
            });
        }
        // row-major flattening of the matrices
        let rows = |m: &DMatrix<f64>| m.transpose().iter().copied().collect::<Vec<f64>>();
        let params = vec![
            flat_tensor(rows(&p.w_in), device),
            flat_tensor(rows(&p.w_rec), device),
            flat_tensor(p.b.iter().copied().collect(), device),
            flat_tensor(p.w_out.iter().copied().collect(), device),
            flat_tensor(vec![p.b_out], device),
        ];
        Ok(FlatNet::new(config.clone(), params, device))
    }

    /// The parameters on the host.
    pub fn to_host(&self) -> SnnParams {
        let [w_in, w_rec, b, w_out, b_out]: [Vec<f64>; 5] = self
            .host_params()
            .try_into()
            .expect("an LIF network has five parameter tensors");
        let (n, n0) = (self.config().width, self.config().input_dim);
        SnnParams {
            w_in: DMatrix::from_row_slice(n, n0, &w_in),
            w_rec: DMatrix::from_row_slice(n, n, &w_rec),
            b: DVector::from_vec(b),
            w_out: DVector::from_vec(w_out),
            b_out: b_out[0],
        }
    }
}

impl Architecture for SnnConfig {
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2> {
        let c = self;
        let (n, n0) = (c.width, c.input_dim);
        let w_in = params[0].clone().reshape([n, n0]);
        let w_rec = params[1].clone().reshape([n, n]);
        let b = params[2].clone().reshape([1, n]);
        let w_out = params[3].clone().reshape([1, n]);
        let b_out = params[4].clone().reshape([1, 1]);
        let s_in = c.sigma_w / (n0 as f64).sqrt();
        let s_hid = c.sigma_w / (n as f64).sqrt();
        let drive = dense(x.clone(), w_in, b, s_in, c.sigma_b);
        let mut u: Tensor<2> = drive.clone().zeros_like();
        let mut s: Tensor<2> = drive.clone().zeros_like();
        let mut count: Tensor<2> = drive.clone().zeros_like();
        for t in 0..c.time_steps {
            u = if t == 0 {
                drive.clone()
            } else {
                u.mul_scalar(c.beta)
                    + drive.clone()
                    + s.clone()
                        .matmul(w_rec.clone().transpose())
                        .mul_scalar(s_hid)
                    - s.clone().mul_scalar(c.theta)
            };
            s = surrogate_activation(u.clone().sub_scalar(c.theta), c.spike, backward);
            count = count + s.clone();
        }
        let rate = count.div_scalar(c.time_steps as f64);
        dense(rate, w_out, b_out, s_hid, c.sigma_b)
    }

    fn outputs(&self) -> usize {
        1
    }

    fn activation(&self) -> Activation {
        self.spike
    }

    fn input_dim(&self) -> usize {
        self.input_dim
    }
}
