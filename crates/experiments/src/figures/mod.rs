//! The paper's figures (SPEC §7). Each figure writes `OUT/<fig>.png`, `.svg`, the plotted data as
//! `.csv`, and `<fig>.json` with every setting, the seed, the backend, the elapsed time and summary
//! numbers. Trained networks are saved in chunks under `OUT/cache/`, so an interrupted run resumes.

mod kernels;
mod plots;
mod regression;
mod target;

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;
use sgntk_model::burn::tensor::Device;
use sgntk_model::{
    init_member, train, BackendKind, Ensemble, HostParams, LearningRule, MlpConfig, TrainConfig,
    TrainReport, TrainSet,
};

use crate::cache::Cache;
use crate::error::ExpError;
use crate::settings::{Preset, Settings};

pub use kernels::{fit_loglog_slope, KernelCell, KernelData};
pub use regression::{RegressionData, WidthResult};

/// One of the paper's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum FigureId {
    /// Fig. 1: empirical NTK at t = 0 and after GD vs the analytic NTK.
    Fig1,
    /// Fig. 2: empirical SG-NTK at t = 0 and after SGL vs the analytic SG-NTK.
    Fig2,
    /// Fig. 3a: sign networks trained by SGL vs the SG-NTK GP.
    Fig3a,
    /// Fig. 3b: ensemble means of several widths vs the SG-NTK GP.
    Fig3b,
    /// Fig. B.1: the target and the training points.
    B1,
    /// Fig. B.2: Fig. 3a with last-layer scale κ = 0.2.
    B2,
    /// Fig. B.3: MSE of the empirical NTK vs width (from Fig. 1).
    B3,
    /// Fig. B.4: MSE of the empirical SG-NTK vs width (from Fig. 2).
    B4,
}

impl FigureId {
    /// Every figure, in the order `figure all` runs them (B.3/B.4 reuse Fig. 1/2's cache).
    pub const ALL: [FigureId; 8] = [
        FigureId::B1,
        FigureId::Fig1,
        FigureId::Fig2,
        FigureId::B3,
        FigureId::B4,
        FigureId::Fig3a,
        FigureId::Fig3b,
        FigureId::B2,
    ];

    /// File stem of the figure's outputs (`fig1`, `fig3a`, `figb2`, …).
    pub fn stem(self) -> &'static str {
        match self {
            FigureId::Fig1 => "fig1",
            FigureId::Fig2 => "fig2",
            FigureId::Fig3a => "fig3a",
            FigureId::Fig3b => "fig3b",
            FigureId::B1 => "figb1",
            FigureId::B2 => "figb2",
            FigureId::B3 => "figb3",
            FigureId::B4 => "figb4",
        }
    }

    /// One-line description.
    pub fn title(self) -> &'static str {
        match self {
            FigureId::Fig1 => "Empirical NTK (t = 0 and after GD) vs the analytic NTK",
            FigureId::Fig2 => "Empirical SG-NTK (t = 0 and after SGL) vs the analytic SG-NTK",
            FigureId::Fig3a => "Sign networks trained by SGL vs the SG-NTK GP",
            FigureId::Fig3b => "Ensemble means over widths vs the SG-NTK GP",
            FigureId::B1 => "Target function and training points",
            FigureId::B2 => "Sign networks with last-layer scale κ vs the SG-NTK GP",
            FigureId::B3 => "MSE of the empirical NTK to the analytic NTK vs width",
            FigureId::B4 => "MSE of the empirical SG-NTK to the analytic SG-NTK vs width",
        }
    }
}

impl fmt::Display for FigureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stem())
    }
}

impl FromStr for FigureId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("fig").unwrap_or(&t);
        let t = t.strip_prefix('.').unwrap_or(t);
        Ok(match t.replace('.', "").as_str() {
            "1" => FigureId::Fig1,
            "2" => FigureId::Fig2,
            "3a" => FigureId::Fig3a,
            "3b" => FigureId::Fig3b,
            "b1" => FigureId::B1,
            "b2" => FigureId::B2,
            "b3" => FigureId::B3,
            "b4" => FigureId::B4,
            _ => {
                return Err(format!(
                    "unknown figure `{s}` (expected 1, 2, 3a, 3b, b1, b2, b3, b4 or all)"
                ))
            }
        })
    }
}

/// Everything a figure run needs besides its settings.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Output directory (created if missing; its `cache/` makes runs resumable).
    pub out: PathBuf,
    /// Compute backend.
    pub backend: BackendKind,
    /// Seed of the network initializations.
    pub seed: u64,
    /// The preset the settings came from (recorded in the JSON).
    pub preset: Preset,
    /// All figures' settings.
    pub settings: Settings,
    /// Show progress bars (they also hide themselves when stderr is not a terminal).
    pub progress: bool,
    /// Chunks of networks trained at the same time, one per thread (results do not depend on it).
    pub threads: usize,
}

/// The number of CPU threads available.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a figure run wrote.
#[derive(Clone, Debug, Serialize)]
pub struct FigureReport {
    /// The figure.
    pub figure: String,
    /// What it shows.
    pub title: String,
    /// `quick` or `paper` (settings may be overridden by a config file; they are all here).
    pub preset: Preset,
    /// The backend.
    pub backend: String,
    /// Seed of the network initializations.
    pub seed: u64,
    /// sgntk version.
    pub version: String,
    /// The settings used.
    pub settings: serde_json::Value,
    /// Wall time of the run in seconds (less when units came from the cache).
    pub elapsed_s: f64,
    /// Chunks of networks loaded from the cache instead of trained.
    pub resumed_chunks: usize,
    /// Chunks of networks trained in this run.
    pub trained_chunks: usize,
    /// Summary numbers (per figure).
    pub summary: serde_json::Value,
    /// Files written.
    pub files: Vec<String>,
}

/// Counts of resumed / trained chunks.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChunkCount {
    pub resumed: usize,
    pub trained: usize,
}

/// Runs one figure and writes its files into `opts.out`.
pub fn run_figure(id: FigureId, opts: &RunOptions) -> Result<FigureReport, ExpError> {
    std::fs::create_dir_all(&opts.out).map_err(|e| ExpError::output(&opts.out, e))?;
    let start = Instant::now();
    let s = &opts.settings;
    let stem = opts.out.join(id.stem());
    let mut count = ChunkCount::default();
    let (settings, summary, files) = match id {
        FigureId::Fig1 | FigureId::Fig2 | FigureId::B3 | FigureId::B4 => {
            let ks = if matches!(id, FigureId::Fig1 | FigureId::B3) {
                &s.fig1
            } else {
                &s.fig2
            };
            let data = kernels::compute(ks, opts, id.stem(), &mut count)?;
            let (summary, files) = if matches!(id, FigureId::Fig1 | FigureId::Fig2) {
                kernels::write_slices(&data, &stem)?
            } else {
                kernels::write_mse(&data, &stem)?
            };
            (serde_json::to_value(ks), summary, files)
        }
        FigureId::Fig3a | FigureId::Fig3b | FigureId::B2 => {
            let rs = match id {
                FigureId::Fig3a => &s.fig3a,
                FigureId::Fig3b => &s.fig3b,
                _ => &s.b2,
            };
            let data = regression::compute(rs, opts, id.stem(), &mut count)?;
            let (summary, files) = regression::write(&data, id == FigureId::Fig3b, &stem)?;
            (serde_json::to_value(rs), summary, files)
        }
        FigureId::B1 => {
            let (summary, files) = target::write(&s.b1, &stem)?;
            (serde_json::to_value(&s.b1), summary, files)
        }
    };
    let json_path = stem.with_extension("json");
    let mut files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    files.push(json_path.display().to_string());
    let report = FigureReport {
        figure: id.stem().to_string(),
        title: id.title().to_string(),
        preset: opts.preset,
        backend: opts.backend.to_string(),
        seed: opts.seed,
        version: env!("CARGO_PKG_VERSION").to_string(),
        settings: settings.map_err(|e| ExpError::output(&json_path, e))?,
        elapsed_s: start.elapsed().as_secs_f64(),
        resumed_chunks: count.resumed,
        trained_chunks: count.trained,
        summary,
        files,
    };
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| ExpError::output(&json_path, e))?;
    std::fs::write(&json_path, text + "\n").map_err(|e| ExpError::output(&json_path, e))?;
    Ok(report)
}

/// The widths vector 2 → n → … → n → 1 of an MLP with `depth` layers.
pub(crate) fn widths(width: usize, depth: usize) -> Vec<usize> {
    let mut w = vec![2];
    w.extend(std::iter::repeat_n(width, depth - 1));
    w.push(1);
    w
}

/// The members `range` of the ensemble drawn from `seed` (member k is the same whatever chunk
/// it is trained in).
pub(crate) fn chunk_ensemble(
    config: &MlpConfig,
    seed: u64,
    range: Range<usize>,
    device: &Device,
) -> Result<Ensemble, ExpError> {
    let params: Vec<HostParams> = range.map(|k| init_member(config, seed, k)).collect();
    Ok(Ensemble::from_host(config, &params, device)?)
}

/// Splits `0..nets` into chunks of `chunk` members.
pub(crate) fn chunks(nets: usize, chunk: usize) -> Vec<Range<usize>> {
    (0..nets)
        .step_by(chunk)
        .map(|a| a..(a + chunk).min(nets))
        .collect()
}

/// Trains `ensemble` for `steps` steps of `rule`, advancing `pb` as it goes.
pub(crate) fn train_with_progress(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    rule: LearningRule,
    lr: f64,
    steps: usize,
    pb: &ProgressBar,
) -> Result<TrainReport, ExpError> {
    let config = TrainConfig {
        rule,
        lr,
        steps,
        ..TrainConfig::default()
    };
    let tick = (steps / 100).max(1);
    let record: Vec<usize> = (1..=steps)
        .filter(|t| t % tick == 0 || *t == steps)
        .collect();
    let mut last = 0;
    let report = train(ensemble, data, &config, &record, |t, _| {
        pb.inc((t - last) as u64);
        last = t;
        Ok(())
    })?;
    Ok(report)
}

/// Runs `job(i)` for i in 0..n on up to `threads` threads and returns the results in order
/// (every job is independent and deterministic, so the results do not depend on `threads`).
/// Stops handing out jobs after the first error, which is returned.
pub(crate) fn parallel_map<T: Send>(
    n: usize,
    threads: usize,
    job: impl Fn(usize) -> Result<T, ExpError> + Sync,
) -> Result<Vec<T>, ExpError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<T, ExpError>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n || failed.load(Ordering::SeqCst) {
                    break;
                }
                let r = job(i);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                slots.lock().expect("no panics while holding the lock")[i] = Some(r);
            });
        }
    });
    let slots = slots.into_inner().expect("threads joined");
    let mut out = Vec::with_capacity(n);
    for r in slots.into_iter().flatten() {
        out.push(r?);
    }
    Ok(out)
}

/// The progress bar of a figure (hidden when `opts.progress` is false).
pub(crate) fn figure_bar(opts: &RunOptions, total: u64, name: &str) -> ProgressBar {
    if opts.progress {
        crate::progress::bar(total, format!("{name}: training steps"))
    } else {
        ProgressBar::hidden()
    }
}

/// The cache of a run.
pub(crate) fn cache(opts: &RunOptions) -> Cache {
    Cache::new(&opts.out)
}

/// Root mean square of `a − b`.
pub(crate) fn rms_diff(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / n).sqrt()
}
