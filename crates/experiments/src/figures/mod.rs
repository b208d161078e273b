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
use serde::de::DeserializeOwned;
use serde::Serialize;
use sgntk_model::burn::tensor::Device;
use sgntk_model::{
    init_member, train, BackendKind, Ensemble, HostParams, LearningRule, MlpConfig, TrainConfig,
    TrainReport, TrainSet,
};

use crate::cache::{Cache, Validate};
use crate::error::ExpError;
use crate::settings::{Preset, Settings};
use crate::shard::Shard;

pub use kernels::{fit_loglog_slope, loglog_fit, KernelCell, KernelData, LogLogFit};
pub use regression::{width_summary, RegressionData, WidthResult, WidthSummary};

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

    /// The table of [`Settings`] (and of config files) that holds this figure's settings (B.3/B.4
    /// are computed from the runs of Fig. 1/2).
    pub fn settings_table(self) -> &'static str {
        match self {
            FigureId::Fig1 | FigureId::B3 => "fig1",
            FigureId::Fig2 | FigureId::B4 => "fig2",
            FigureId::Fig3a => "fig3a",
            FigureId::Fig3b => "fig3b",
            FigureId::B1 => "b1",
            FigureId::B2 => "b2",
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
    /// Image files each figure writes (PNG, SVG or both).
    pub format: crate::plot::Format,
    /// Train only this shard's chunks and write no figure (see [`crate::shard`]).
    pub shard: Option<Shard>,
}

impl Default for RunOptions {
    /// The quick preset into `figures/` on the default backend, seed 0, every CPU thread.
    fn default() -> Self {
        RunOptions {
            out: PathBuf::from("figures"),
            backend: BackendKind::default(),
            seed: 0,
            preset: Preset::Quick,
            settings: Settings::preset(Preset::Quick),
            progress: false,
            threads: default_threads(),
            format: crate::plot::Format::default(),
            shard: None,
        }
    }
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

/// Runs one figure and writes its files into `opts.out`. With `opts.shard`, trains only that
/// shard's chunks and returns `None` (a later run without a shard writes the figure).
pub fn run_figure(id: FigureId, opts: &RunOptions) -> Result<Option<FigureReport>, ExpError> {
    // Before any work: the output directory exists (or is created) and is writable.
    crate::io::check_out_dir(&opts.out)?;
    let start = Instant::now();
    let s = &opts.settings;
    let stem = opts.out.join(id.stem());
    let mut count = ChunkCount::default();
    let json_path = stem.with_extension("json");
    let settings = match id.settings_table() {
        "fig1" => serde_json::to_value(&s.fig1),
        "fig2" => serde_json::to_value(&s.fig2),
        "fig3a" => serde_json::to_value(&s.fig3a),
        "fig3b" => serde_json::to_value(&s.fig3b),
        "b2" => serde_json::to_value(&s.b2),
        _ => serde_json::to_value(&s.b1),
    }
    .map_err(|e| ExpError::output(&json_path, e))?;
    claim_out_dir(opts, id, &settings)?;
    let written = match id {
        FigureId::Fig1 | FigureId::Fig2 | FigureId::B3 | FigureId::B4 => {
            let ks = if matches!(id, FigureId::Fig1 | FigureId::B3) {
                &s.fig1
            } else {
                &s.fig2
            };
            match kernels::compute(ks, opts, id.stem(), &mut count)? {
                None => None,
                Some(data) if matches!(id, FigureId::Fig1 | FigureId::Fig2) => {
                    Some(kernels::write_slices(&data, &stem, opts.format)?)
                }
                Some(data) => Some(kernels::write_mse(&data, &stem, opts.format)?),
            }
        }
        FigureId::Fig3a | FigureId::Fig3b | FigureId::B2 => {
            let rs = match id {
                FigureId::Fig3a => &s.fig3a,
                FigureId::Fig3b => &s.fig3b,
                _ => &s.b2,
            };
            match regression::compute(rs, opts, id.stem(), &mut count)? {
                None => None,
                Some(data) => Some(regression::write(
                    &data,
                    id == FigureId::Fig3b,
                    &stem,
                    opts.format,
                )?),
            }
        }
        FigureId::B1 if opts.shard.is_some() => None,
        FigureId::B1 => Some(target::write(&s.b1, &stem, opts.format)?),
    };
    let Some((summary, files)) = written else {
        return Ok(None);
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
        settings,
        elapsed_s: start.elapsed().as_secs_f64(),
        resumed_chunks: count.resumed,
        trained_chunks: count.trained,
        summary,
        files,
    };
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| ExpError::output(&json_path, e))?;
    crate::io::write_atomic(&json_path, (text + "\n").as_bytes())?;
    Ok(Some(report))
}

/// Records in `OUT/cache/<fig>.run.json` what this figure's chunks in `OUT` were computed with
/// (settings, seed, backend); a later run or shard on the same `OUT` with anything else is refused
/// with an error instead of mixing chunks of two experiments. Atomic: concurrent shards that start
/// together agree on one record.
fn claim_out_dir(
    opts: &RunOptions,
    id: FigureId,
    settings: &serde_json::Value,
) -> Result<(), ExpError> {
    let record = serde_json::json!({
        "figure": id.stem(),
        "settings": settings,
        "seed": opts.seed,
        "backend": opts.backend.to_string(),
    });
    let dir = opts.out.join("cache");
    let path = dir.join(format!("{}.run.json", id.stem()));
    std::fs::create_dir_all(&dir).map_err(|e| ExpError::output(&dir, e))?;
    let text = serde_json::to_string_pretty(&record).map_err(|e| ExpError::output(&path, e))?;
    // create-if-absent in one step: write a unique temporary file, then hard-link it into place
    let tmp = crate::io::temp_path(&path, true);
    if let Err(e) = std::fs::write(&tmp, &text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(ExpError::output(&path, e));
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(ExpError::output(&path, e)),
    }
    let existing = std::fs::read_to_string(&path).map_err(|e| ExpError::output(&path, e))?;
    let old: serde_json::Value = serde_json::from_str(&existing).unwrap_or(serde_json::Value::Null);
    if old == record {
        return Ok(());
    }
    let what = first_difference("", &old, &record).unwrap_or_else(|| "the run record".into());
    Err(ExpError::Usage(format!(
        "{} holds {} chunks of a run with other settings ({what}); use another --out, or delete {} to mix them knowingly",
        opts.out.display(),
        id.stem(),
        path.display()
    )))
}

/// The first path at which two JSON values differ, with both values.
fn first_difference(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                first_difference(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} there, {b} now")),
    }
}

/// One independent, cached unit of a figure's training.
pub(crate) struct ChunkJob<K, E> {
    /// Its cache key (every setting its numbers depend on).
    pub key: K,
    /// What the saved value must look like (see [`crate::cache::Validate`]).
    pub expect: E,
    /// Relative cost (for balancing shards).
    pub cost: f64,
    /// Training steps (for the progress bar).
    pub steps: u64,
}

/// Loads each job's chunk from the cache or trains it with `train(i)` and saves it, `opts.threads`
/// jobs at a time; the results come back in job order (they do not depend on the threads). With
/// `opts.shard`, only the shard's jobs are run and `None` is returned.
pub(crate) fn run_chunks<K, T>(
    opts: &RunOptions,
    jobs: &[ChunkJob<K, T::Expect>],
    pb: &ProgressBar,
    count: &mut ChunkCount,
    train: impl Fn(usize) -> Result<T, ExpError> + Sync,
) -> Result<Option<Vec<T>>, ExpError>
where
    K: Serialize + Sync,
    T: Serialize + DeserializeOwned + Validate + Send,
    T::Expect: Sync,
{
    let cache = cache(opts)?;
    let owned: Vec<usize> = match opts.shard {
        None => (0..jobs.len()).collect(),
        Some(shard) => {
            let costs: Vec<f64> = jobs.iter().map(|j| j.cost).collect();
            let own = shard.owns(&costs);
            (0..jobs.len()).filter(|&i| own[i]).collect()
        }
    };
    pb.set_length(owned.iter().map(|&i| jobs[i].steps).sum());
    let results = parallel_map(owned.len(), opts.threads, |n| {
        let job = &jobs[owned[n]];
        let (value, hit) = cache.get_or_compute(&job.key, &job.expect, || train(owned[n]))?;
        if hit {
            pb.inc(job.steps);
        }
        Ok((value, hit))
    })?;
    pb.finish_and_clear();
    for (_, hit) in &results {
        if *hit {
            count.resumed += 1;
        } else {
            count.trained += 1;
        }
    }
    if opts.shard.is_some() {
        return Ok(None);
    }
    Ok(Some(results.into_iter().map(|(v, _)| v).collect()))
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

/// The cache of a run. Its context — added here, once, to every figure's keys — holds the
/// settings of this build and machine that decide the numbers besides the figure's settings: the
/// backend, the training engine `Engine::Auto` resolves to there, the parameters' dtype and, for
/// the fused engine, the instruction set (see [`crate::cache`]).
pub(crate) fn cache(opts: &RunOptions) -> Result<Cache, ExpError> {
    let device = opts.backend.device()?;
    let probe_config = MlpConfig::new(widths(1, 2), sgntk_model::Activation::Sign);
    let probe = chunk_ensemble(&probe_config, 0, 0..1, &device)?;
    let engine = sgntk_model::Engine::default().resolve(&probe);
    let dtype = probe
        .layers()
        .first()
        .map(|l| format!("{:?}", l.weight.dtype()));
    let isa = (engine == sgntk_model::Engine::Fused)
        .then(|| format!("{:?}", sgntk_model::fused::Isa::detect()));
    Ok(Cache::new(&opts.out).with_context(serde_json::json!({
        "backend": opts.backend.to_string(),
        "engine": engine,
        "dtype": dtype,
        "isa": isa,
    })))
}
