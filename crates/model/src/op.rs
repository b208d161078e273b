#![allow(deprecated)] // burn-ndarray is deprecated upstream but still a supported backend here
//! The surrogate-gradient activation as a real autodiff op.
//!
//! Forward: a = φ(h). Backward: ∂L/∂h = σ̃(h) · ∂L/∂a, where σ̃ is the surrogate (or φ' itself for
//! [`Surrogate::True`]). Registered through burn's backend-extension mechanism: concrete backends
//! implement the forward, `Autodiff<B, C>` records a [`Backward`] step that applies σ̃.

use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
    Autodiff,
};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch};
use burn::tensor::Tensor;

use crate::activation::{Activation, Elementwise, Surrogate};

/// A backend float tensor primitive seen as an [`Elementwise`] value, so that the activation and
/// surrogate definitions of [`crate::activation`] run on tensors unchanged.
pub struct Prim<B: Backend>(pub FloatTensor<B>);

impl<B: Backend> Clone for Prim<B> {
    fn clone(&self) -> Self {
        Prim(self.0.clone())
    }
}

/// `fn name(self) -> Self { Prim(B::op(self.0)) }` for each `name => op`.
macro_rules! unary_ops {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(fn $name(self) -> Self {
            Prim(B::$op(self.0))
        })*
    };
}

impl<B: Backend> Elementwise for Prim<B> {
    fn add(self, other: Self) -> Self {
        Prim(B::float_add(self.0, other.0))
    }
    fn mul(self, other: Self) -> Self {
        Prim(B::float_mul(self.0, other.0))
    }
    fn add_scalar(self, c: f64) -> Self {
        Prim(B::float_add_scalar(self.0, c.into()))
    }
    fn mul_scalar(self, c: f64) -> Self {
        Prim(B::float_mul_scalar(self.0, c.into()))
    }
    fn full_like(&self, c: f64) -> Self {
        let zero = B::float_mul_scalar(self.0.clone(), 0.0.into());
        Prim(B::float_add_scalar(zero, c.into()))
    }
    unary_ops! {
        exp => float_exp,
        erf => float_erf,
        tanh => float_tanh,
        sigmoid => sigmoid,
        abs => float_abs,
        recip => float_recip,
        sign => float_sign,
    }
    fn relu(self) -> Self {
        Prim(B::float_clamp_min(self.0, 0.0.into()))
    }
}

/// Backends that provide the surrogate activation op.
#[backend_extension(Autodiff, Flex, NdArray, Cube: cfg(feature = "wgpu"))]
pub trait SurrogateBackend: Backend {
    /// φ(h) in the forward pass; σ̃(h) · upstream in the backward pass.
    fn surrogate_activation(
        h: FloatTensor<Self>,
        activation: Activation,
        surrogate: Surrogate,
    ) -> FloatTensor<Self> {
        let _ = surrogate;
        activation.eval(Prim::<Self>(h)).0
    }
}

impl SurrogateBackend for burn::backend::Flex {}
#[allow(deprecated)]
impl SurrogateBackend for burn::backend::NdArray {}
#[cfg(feature = "wgpu")]
impl SurrogateBackend for burn::backend::Cube {}

#[derive(Debug)]
struct SurrogateBackward {
    surrogate: Surrogate,
    activation: Activation,
}

impl<B: Backend> Backward<B, 1> for SurrogateBackward {
    /// The pre-activation h.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let g = self
                .surrogate
                .eval(&self.activation, Prim::<B>(ops.state))
                .0;
            grads.register::<B>(node.id, B::float_mul(grad, g));
        }
    }
}

impl<B: Backend + SurrogateBackend, C: CheckpointStrategy> SurrogateBackend for Autodiff<B, C> {
    fn surrogate_activation(
        h: FloatTensor<Self>,
        activation: Activation,
        surrogate: Surrogate,
    ) -> FloatTensor<Self> {
        let backward = SurrogateBackward {
            surrogate,
            activation,
        };
        match backward.prepare::<C>([h.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let h = h.into_primitive();
                let out = B::surrogate_activation(h.clone(), activation, surrogate);
                prep.finish(h, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::surrogate_activation(
                h.into_primitive(),
                activation,
                surrogate,
            )),
        }
    }
}

/// Applies φ with σ̃ in the backward pass to a tensor on any enabled backend.
pub fn surrogate_activation<const D: usize>(
    h: Tensor<D>,
    activation: Activation,
    surrogate: Surrogate,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SurrogateBackend>::surrogate_activation(
        h.into_dispatch(),
        activation,
        surrogate,
    ))
}

/// φ(h) on any tensor, without recording a custom backward step (inner-backend math).
pub fn apply_activation<const D: usize>(h: Tensor<D>, activation: Activation) -> Tensor<D> {
    Tensor::from_dispatch(activation.eval(Prim::<Dispatch>(h.into_dispatch())).0)
}

/// σ̃(h) (or φ'(h) for [`Surrogate::True`]) on any tensor.
pub fn apply_surrogate<const D: usize>(
    h: Tensor<D>,
    activation: Activation,
    surrogate: Surrogate,
) -> Tensor<D> {
    Tensor::from_dispatch(
        surrogate
            .eval(&activation, Prim::<Dispatch>(h.into_dispatch()))
            .0,
    )
}
