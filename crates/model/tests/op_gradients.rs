//! The surrogate op's input gradient is σ̃(h) · upstream, for every surrogate family, on every
//! CPU backend; its forward value is φ(h).

use burn::tensor::{Tensor, TensorData};
use sgntk_model::{Activation, BackendKind, Surrogate};

fn values(n: usize, scale: f64, shift: f64) -> Vec<f64> {
    (0..n)
        .map(|i| scale * ((i as f64 * 0.7317).sin() + shift))
        .collect()
}

fn check(backend: BackendKind, activation: Activation, surrogate: Surrogate) {
    let device = backend.device().unwrap();
    let n = 64;
    let h_host = values(n, 1.6, 0.05);
    let up_host = values(n, 0.9, 0.3);
    let h = Tensor::<1>::from_data(TensorData::new(h_host.clone(), [n]), &device).require_grad();
    let up = Tensor::<1>::from_data(TensorData::new(up_host.clone(), [n]), &device);
    let a = sgntk_model::surrogate_activation(h.clone(), activation, surrogate);
    let forward: Vec<f64> = a.to_data().iter::<f64>().collect();
    let grads = (a * up).sum().backward();
    let gh: Vec<f64> = h.grad(&grads).unwrap().into_data().iter::<f64>().collect();
    for i in 0..n {
        // f32 inputs: compare against the f64 formula at the f32-rounded input
        let z = h_host[i] as f32 as f64;
        let u = up_host[i] as f32 as f64;
        let want = surrogate.eval(&activation, z) * u;
        let tol = 1e-5 * want.abs().max(1.0);
        assert!(
            (gh[i] - want).abs() <= tol,
            "{backend} {activation} {surrogate}: grad[{i}] = {} want {want}",
            gh[i]
        );
        let fwant = activation.eval(z);
        assert!(
            (forward[i] - fwant).abs() <= 1e-5 * fwant.abs().max(1.0),
            "{backend} {activation}: forward"
        );
    }
}

#[test]
fn input_gradient_is_surrogate_times_upstream_on_cpu_backends() {
    let surrogates = Surrogate::FAMILIES.into_iter().chain(
        [
            "erf-prime:3",
            "fast-sigmoid:25",
            "triangle:0.5",
            "boxcar:0.3",
            "sigmoid:4",
            "atan:2",
        ]
        .map(|s| s.parse().unwrap()),
    );
    let activations = ["erf:2", "erf:5", "sign", "step", "relu", "tanh", "identity"]
        .map(|s| s.parse::<Activation>().unwrap());
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        for g in surrogates.clone() {
            for act in activations {
                check(backend, act, g);
            }
        }
    }
}
