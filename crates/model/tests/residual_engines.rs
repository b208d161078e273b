//! Residual MLPs (`NetSpec::residual`) on the MLP engines: a residual block is a skip connection
//! of an MLP's hidden-to-hidden layer (`MlpConfig::skips`), so the fused, lowrank, explicit and
//! autodiff engines train it; they must give the networks that burn's autodiff of the
//! description (`train_flat_ensemble`) gives, from the same initial parameters.

mod common;

use nalgebra::DMatrix;
use sgntk_model::fused::{train_fused, Isa, Plan};
use sgntk_model::{
    data, train, train_flat_ensemble, Activation, BackendKind, Engine, Ensemble, FlatParamModel,
    Layer, LearningRule, MlpConfig, NetSpec, ResidualConfig, Surrogate, TrainConfig, TrainSet,
};

/// The 15 circle points of the default data seed, with the paper's targets.
fn circle_task() -> TrainSet {
    common::circle_task(15, data::DEFAULT_DATA_SEED)
}

/// Every parameter of every member, flat, in the description's order (W row-major, then b).
fn ensemble_params(ens: &Ensemble) -> Vec<Vec<f64>> {
    ens.to_host()
        .iter()
        .map(|layers| {
            layers
                .iter()
                .flat_map(|l| {
                    let w = l.weight.transpose(); // column-major iteration of Wᵀ = W row-major
                    w.iter()
                        .copied()
                        .chain(l.bias.iter().copied())
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect()
}

fn flat_params(net: &impl FlatParamModel) -> Vec<f64> {
    net.parameters()
        .into_iter()
        .flat_map(|t| t.into_data().iter::<f64>().collect::<Vec<_>>())
        .collect()
}

/// max |a − b| / max |b| over all members' parameters.
fn rel_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let scale = b.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert_eq!(a.iter().flatten().count(), b.iter().flatten().count());
    worst / scale
}

#[test]
fn a_residual_description_is_an_mlp_with_skips_and_back() {
    let sign = Activation::Sign;
    let spec = NetSpec::residual(&ResidualConfig::new(16, 3, sign));
    let config = MlpConfig::try_from(&spec).unwrap();
    assert_eq!(config.widths, vec![2, 16, 16, 16, 16, 1]);
    assert_eq!(config.skips, vec![1, 2, 3]);
    assert_eq!(config.activation, sign);
    assert_eq!(NetSpec::mlp(&config), spec);
    // Skips between plain pairs, and other scales.
    let mixed = MlpConfig {
        sigma_w: 1.3,
        sigma_b: 0.0,
        kappa: 0.7,
        skips: vec![2, 4],
        ..MlpConfig::new(vec![3, 8, 5, 5, 5, 5, 2], "erf:2".parse().unwrap())
    };
    mixed.validate().unwrap();
    assert_eq!(MlpConfig::try_from(&NetSpec::mlp(&mixed)).unwrap(), mixed);
    // A file without `skips` is a plain MLP, and a plain MLP writes no `skips`.
    let plain = MlpConfig::new(vec![2, 8, 1], sign);
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("skips"), "{json}");
    assert_eq!(serde_json::from_str::<MlpConfig>(&json).unwrap(), plain);

    // Residual branches that are not [act φ, dense n] with the net's φ stay descriptions.
    let with_block = |block: Vec<Layer>| {
        let mut s = spec.clone();
        s.layers[1] = Layer::Residual(block);
        s
    };
    let dense = Layer::Dense { width: 16 };
    for block in [
        vec![dense.clone(), Layer::Act(sign)],
        vec![Layer::Act(Activation::Relu), dense.clone()],
        vec![dense.clone()],
        vec![
            Layer::Act(sign),
            dense.clone(),
            Layer::Act(sign),
            dense.clone(),
        ],
    ] {
        let e = MlpConfig::try_from(&with_block(block.clone())).unwrap_err();
        assert!(
            e.to_string().contains("residual [act, dense]"),
            "{block:?}: {e}"
        );
    }

    // Skips the engines cannot run are one-line errors.
    for skips in [vec![0], vec![4], vec![5], vec![2, 1], vec![2, 2]] {
        let bad = MlpConfig {
            skips: skips.clone(),
            ..MlpConfig::new(vec![2, 8, 8, 8, 8, 1], sign)
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("skip connections") && !e.contains('\n'),
            "{skips:?}: {e}"
        );
    }
    let widening = MlpConfig {
        skips: vec![1],
        ..MlpConfig::new(vec![2, 8, 9, 1], sign)
    };
    assert!(widening.validate().is_err());
}

/// Member k of an ensemble of a residual MLP is `NetSpec::init(seed, k)`, bit for bit.
#[test]
fn residual_members_are_the_descriptions_draws() {
    let device = BackendKind::Flex.device().unwrap();
    let spec = NetSpec::residual(&ResidualConfig::new(12, 2, Activation::Sign));
    let config = MlpConfig::try_from(&spec).unwrap();
    let ens = Ensemble::init(&config, 3, 17, &device).unwrap();
    let got = ensemble_params(&ens);
    for (k, member) in got.iter().enumerate() {
        let want = flat_params(&spec.init(17, k, &device).unwrap());
        assert_eq!(member, &want, "member {k}");
    }
    // The same draws as `init_member` on the host (before rounding to the device's f32).
    let host = sgntk_model::init_member(&config, 17, 1);
    let draws = flat_params(&spec.init(17, 1, &device).unwrap());
    assert_eq!(host[1].weight[(0, 1)] as f32 as f64, draws[2 * 12 + 12 + 1]);
}

/// The residual ensemble (members 0 … 2 of seed 21) trained as `cfg` says (on the fused engine
/// with `fused_plan` when given), its losses and what the lowrank plan did.
fn trained(
    config: &MlpConfig,
    cfg: &TrainConfig,
    fused_plan: Option<Plan>,
) -> (Ensemble, Vec<f64>, sgntk_model::fused::PlanStats) {
    let device = BackendKind::Flex.device().unwrap();
    let mut ens = Ensemble::init(config, 3, 21, &device).unwrap();
    let task = circle_task();
    let report = match fused_plan {
        Some(plan) => train_fused(
            &mut ens,
            &task,
            cfg,
            &[],
            Isa::detect(),
            plan,
            |_, _| Ok(()),
        ),
        None => train(&mut ens, &task, cfg, &[], |_, _| Ok(())),
    }
    .unwrap();
    (ens, report.loss, report.plan)
}

/// Residual MLPs of 2 and 3 blocks (3 networks, 30 steps) trained on every MLP engine — the
/// fused step, the lowrank plan forced onto every hidden layer (deferred pairs opened, absorbed
/// and folded, carried pre-activations recomputed every 4 steps), the explicit δ-recursion and
/// the autodiff of the batched MLP — equal burn's autodiff of the description
/// (`train_flat_ensemble`): parameters within 1e-4 of their largest entry and losses within 1e-4
/// relative. Both sides compute in f32, in different orders (tiled FMA loops vs burn's matmuls,
/// κ inside vs outside the last layer), so they differ by f32 rounding (~1e-7 per operation)
/// amplified over 30 steps; sign networks train only 30 steps at lr 0.1, so that no unit within
/// rounding of 0 flips between the two (a flip would move a parameter by ~lr · |δ|, ≫ 1e-4).
#[test]
fn residual_mlps_train_on_the_mlp_engines_as_their_description() {
    let device = BackendKind::Flex.device().unwrap();
    let task = circle_task();
    let lowrank_everywhere = Plan {
        slots: 2,
        refresh_every: 4,
        min_width: 0,
    };
    for (act, rule, width, blocks, kappa) in [
        (
            "sign",
            LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }),
            24,
            2,
            1.0,
        ),
        ("erf:2", LearningRule::Gd, 20, 3, 0.6),
    ] {
        let spec = NetSpec {
            kappa,
            ..NetSpec::residual(&ResidualConfig::new(width, blocks, act.parse().unwrap()))
        };
        let config = MlpConfig::try_from(&spec).unwrap();
        assert_eq!(config.skips, (1..=blocks).collect::<Vec<_>>());
        let cfg = |engine| TrainConfig {
            rule,
            lr: 0.1,
            steps: 30,
            engine,
        };
        let (nets, oracle) = train_flat_ensemble(
            &spec,
            21,
            0..3,
            &task,
            &cfg(Engine::Autodiff),
            &device,
            None,
        )
        .unwrap();
        let want: Vec<Vec<f64>> = nets.iter().map(flat_params).collect();
        assert!(
            oracle.loss[30] < 0.9 * oracle.loss[0],
            "{act}: {:?}",
            oracle.loss
        );
        let runs = [
            (
                "fused",
                trained(&config, &cfg(Engine::Fused), Some(Plan::EAGER)),
            ),
            (
                "lowrank everywhere",
                trained(&config, &cfg(Engine::Lowrank), Some(lowrank_everywhere)),
            ),
            (
                "lowrank (tuned)",
                trained(&config, &cfg(Engine::Lowrank), None),
            ),
            ("explicit", trained(&config, &cfg(Engine::Explicit), None)),
            ("autodiff", trained(&config, &cfg(Engine::Autodiff), None)),
        ];
        for (name, (ens, loss, plan)) in runs {
            if name == "lowrank everywhere" {
                // Sign units rarely change: pairs absorbed, pre-activations carried; erf units
                // all change: pairs folded, pre-activations recomputed.
                let used = match act {
                    "sign" => plan.absorbed > 0 && plan.carried > 0,
                    _ => plan.folds > 0 && plan.recomputed > 0,
                };
                assert!(used, "{act}: the plan's paths did not run: {plan:?}");
            }
            let d = rel_diff(&ensemble_params(&ens), &want);
            assert!(d < 1e-4, "{act} {name}: parameters differ by {d:e}");
            assert_eq!(loss.len(), 31);
            for t in [0, 1, 15, 30] {
                let (a, b) = (loss[t], oracle.loss[t]);
                assert!(
                    (a - b).abs() <= 1e-4 * b,
                    "{act} {name} loss at {t}: {a} vs {b}"
                );
            }
            let outputs = ens.predict(&task.x).unwrap();
            for (k, net) in nets.iter().enumerate() {
                let f = sgntk_model::predict_flat(net, &task.x).unwrap();
                let scale = f.abs().max();
                assert!(
                    (&outputs[k] - &f).abs().max() < 1e-4 * scale,
                    "{act} {name}: outputs of network {k}"
                );
            }
        }
    }
}

/// The skips matter: the same initial parameters trained as a plain MLP (no skips) end far from
/// the residual MLP on the fused engine — so the agreement above is not one of networks that
/// ignore their skip connections.
#[test]
fn dropping_the_skips_changes_the_network() {
    let device = BackendKind::Flex.device().unwrap();
    let task = circle_task();
    let spec = NetSpec::residual(&ResidualConfig::new(24, 2, Activation::Sign));
    let residual = MlpConfig::try_from(&spec).unwrap();
    let plain = MlpConfig {
        skips: Vec::new(),
        ..residual.clone()
    };
    let cfg = TrainConfig {
        rule: LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 }),
        lr: 0.1,
        steps: 20,
        engine: Engine::Fused,
    };
    let start = Ensemble::init(&residual, 2, 3, &device).unwrap();
    let mut with = start.clone();
    let mut without = Ensemble::from_host(&plain, &start.to_host(), &device).unwrap();
    let before: Vec<DMatrix<f64>> = with.predict(&task.x).unwrap();
    let plain_before = without.predict(&task.x).unwrap();
    let far = |a: &[DMatrix<f64>], b: &[DMatrix<f64>]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs().max())
            .fold(0.0f64, f64::max)
    };
    assert!(
        far(&before, &plain_before) > 0.1,
        "the forward ignores the skips"
    );
    let lr = train(&mut with, &task, &cfg, &[], |_, _| Ok(())).unwrap();
    let lp = train(&mut without, &task, &cfg, &[], |_, _| Ok(())).unwrap();
    let d = rel_diff(&ensemble_params(&with), &ensemble_params(&without));
    assert!(
        d > 1e-2,
        "with and without skips: parameters differ by only {d:e}"
    );
    assert!((lr.loss[20] - lp.loss[20]).abs() > 1e-3 * lp.loss[20]);
}
