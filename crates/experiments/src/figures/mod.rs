//! The paper's figures (docs/MATH.md §7). Each figure writes `OUT/<fig>.png`, `.svg`, the plotted data as
//! `.csv`, and `<fig>.json` with every setting, the seed, the backend, the elapsed time and summary
//! numbers. Trained networks are saved in chunks under `OUT/cache/`, so an interrupted run resumes.

mod cnn;
mod digits;
mod kappa;
mod kernels;
mod plots;
mod regression;
mod snn;
mod target;

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sgntk_model::burn::tensor::Device;
use sgntk_model::{
    init_member, train_reporting, Activation, BackendKind, Ensemble, HostParams, LearningRule,
    MlpConfig, Surrogate, TrainConfig, TrainReport, TrainSet,
};
use sgntk_ntk::KernelKind;

use crate::cache::{Cache, Validate};
use crate::error::ExpError;
use crate::io::Table;
use crate::settings::{Preset, Settings, Training};
use crate::shard::Shard;

pub use cnn::{AnalyticAtZero, ChannelSlope, CnnCellSummary, CnnKernels, CnnSummary};
pub use digits::{
    Arch, Digits, DigitsSummary, EnsembleSummary, Family, KernelScores, Score, Spread,
};
pub use kappa::{KappaAgreement, KappaCell, KappaStudy, KappaSummary};
pub(crate) use kernels::mean_curve;
pub use kernels::{
    fit_loglog_slope, loglog_fit, CellSummary, KernelCell, KernelData, KernelPlot, Kernels,
    LogLogFit, MseSlope, MseSummary, SlicesSummary, StepSummary, WidthSlope,
};
pub use regression::{
    bootstrap_errors, distribution_stats, summarize, width_summary, Comparison, DistributionStats,
    Regression, RegressionData, RegressionSummary, SummaryErrors, WidthResult, WidthSummary,
};
pub use snn::{SnnKernels, SnnSummary, SnnWidthSummary};
pub use target::{Target, TargetSummary};

/// A figure's computation: settings → training (cached chunks) → typed summary → CSV and plot.
/// Adding a figure is one module implementing this trait plus one [`Registered`] line in
/// [`REGISTRY`]; the CLI (`sgntk figure`, `figure all`, sweeps, Slurm), the `figure` example and
/// the tests find it there.
pub trait Figure: Sync {
    /// Trains or loads its chunks; unless `run.opts.shard` is set, writes the CSV and the plot
    /// (see `FigureRun::write`) and returns the summary with the files written (a sharded run
    /// returns `None`).
    fn run(&self, run: &FigureRun) -> Result<Option<Written>, ExpError>;
}

/// One run of a figure: its options, its output stem and the chunks it resumed or trained.
pub struct FigureRun<'a> {
    /// Everything the run needs besides the figure's settings (which are in `opts.settings`).
    pub opts: &'a RunOptions,
    /// `OUT/<fig>`: the figure's files are `stem.csv`, `stem.png`, `stem.svg`.
    pub stem: PathBuf,
    resumed: AtomicUsize,
    trained: AtomicUsize,
    /// Written when the first chunk is saved (`None`: no record, e.g. in unit tests).
    record: Option<RunRecord>,
}

/// A line of the [`REGISTRY`]: a figure's names and its computation.
pub struct Registered {
    /// File stem of its outputs and its name on the command line (`fig1`, `figb2`, `snn`; the
    /// `fig` prefix may be left out there).
    pub stem: &'static str,
    /// One-line description.
    pub title: &'static str,
    /// The table of [`Settings`] (and of config files) it reads.
    pub table: &'static str,
    /// What it computes.
    pub figure: &'static dyn Figure,
}

/// What a figure wrote: its summary (a typed struct, serialized) and its files.
#[derive(Clone, Debug)]
pub struct Written {
    /// The summary numbers of the JSON report.
    pub summary: serde_json::Value,
    /// Files written (CSV, PNG, SVG).
    pub files: Vec<PathBuf>,
}

/// Every figure, in the order `figure all` runs them (B.3/B.4 reuse the networks of Fig. 1/2,
/// Fig. 3b those of Fig. 3a's width).
#[rustfmt::skip]
pub static REGISTRY: [Registered; 12] = [
    Registered { stem: "figb1", table: "b1", figure: &Target, title: "Target function and training points" },
    Registered { stem: "fig1", table: "fig1", figure: &Kernels { settings: |s| &s.fig1, plot: KernelPlot::Slices }, title: "Empirical NTK (t = 0 and after GD) vs the analytic NTK" },
    Registered { stem: "fig2", table: "fig2", figure: &Kernels { settings: |s| &s.fig2, plot: KernelPlot::Slices }, title: "Empirical SG-NTK (t = 0 and after SGL) vs the analytic SG-NTK" },
    Registered { stem: "figb3", table: "fig1", figure: &Kernels { settings: |s| &s.fig1, plot: KernelPlot::Mse }, title: "MSE of the empirical NTK to the analytic NTK vs width" },
    Registered { stem: "figb4", table: "fig2", figure: &Kernels { settings: |s| &s.fig2, plot: KernelPlot::Mse }, title: "MSE of the empirical SG-NTK to the analytic SG-NTK vs width" },
    Registered { stem: "fig3a", table: "fig3a", figure: &Regression { settings: |s| &s.fig3a, means_only: false }, title: "Sign networks trained by SGL vs the SG-NTK GP" },
    Registered { stem: "fig3b", table: "fig3b", figure: &Regression { settings: |s| &s.fig3b, means_only: true }, title: "Ensemble means over widths vs the SG-NTK GP" },
    Registered { stem: "figb2", table: "b2", figure: &Regression { settings: |s| &s.b2, means_only: false }, title: "Sign networks with last-layer scale κ vs the SG-NTK GP" },
    Registered { stem: "kappa", table: "kappa", figure: &KappaStudy, title: "Sign networks over last-layer scale κ, width and training time vs the SG-NTK GP (the App. A claim)" },
    Registered { stem: "snn", table: "snn", figure: &SnnKernels, title: "Empirical SG-NTK of a LIF spiking network at init and after SGL through time" },
    Registered { stem: "digits", table: "digits", figure: &Digits, title: "Sign MLPs and CNNs trained by SGL on handwritten digits vs their SG-NTK GP" },
    Registered { stem: "cnn", table: "cnn", figure: &CnnKernels, title: "Empirical SG-NTK of erf_m CNNs (t = 0 and after SGL) vs the analytic SG-NTK, MSE vs channels" },
];

/// A figure of the [`REGISTRY`], named by its stem.
#[derive(Clone, Copy)]
pub struct FigureId(&'static Registered);

impl FigureId {
    /// Every registered figure, in the order `figure all` runs them.
    pub fn all() -> impl Iterator<Item = FigureId> {
        REGISTRY.iter().map(FigureId)
    }

    /// The paper's figures (1, 2, 3a, 3b, B.1–B.4: the stems `fig…`), in the order `figure all`
    /// runs them; `sgntk figure paper` reproduces the paper without the studies beyond it.
    pub fn paper() -> impl Iterator<Item = FigureId> {
        Self::all().filter(|f| f.stem().starts_with("fig"))
    }

    /// What the figure computes.
    pub fn figure(self) -> &'static dyn Figure {
        self.0.figure
    }

    /// File stem of the figure's outputs (`fig1`, `fig3a`, `figb2`, `snn`, …).
    pub fn stem(self) -> &'static str {
        self.0.stem
    }

    /// The table of [`Settings`] (and of config files) that holds this figure's settings.
    pub fn settings_table(self) -> &'static str {
        self.0.table
    }

    /// One-line description.
    pub fn title(self) -> &'static str {
        self.0.title
    }

    /// The name on the command line: the stem without its `fig` prefix (`1`, `3a`, `b2`, `snn`).
    pub fn short_name(self) -> &'static str {
        let stem = self.stem();
        stem.strip_prefix("fig").unwrap_or(stem)
    }
}

impl PartialEq for FigureId {
    fn eq(&self, other: &Self) -> bool {
        self.stem() == other.stem()
    }
}

impl Eq for FigureId {}

impl fmt::Debug for FigureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FigureId({})", self.stem())
    }
}

impl fmt::Display for FigureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stem())
    }
}

impl Serialize for FigureId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.stem())
    }
}

impl FromStr for FigureId {
    type Err = String;

    /// A registered figure by name: `3a`, `fig3a`, `Fig. 3a`, `B.2`, `snn` (case and dots ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace(['.', ' '], "");
        let t = t.strip_prefix("fig").unwrap_or(&t);
        FigureId::all()
            .find(|f| f.short_name() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = FigureId::all().map(FigureId::short_name).collect();
                format!(
                    "unknown figure `{}` (expected {} or all)",
                    sgntk_model::error::excerpt(s),
                    names.join(", ")
                )
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
pub struct ChunkCount {
    /// Chunks loaded from the cache.
    pub resumed: usize,
    /// Chunks trained in this run.
    pub trained: usize,
}

/// Runs one figure and writes its files into `opts.out`. With `opts.shard`, trains only that
/// shard's chunks and returns `None` (a later run without a shard writes the figure).
pub fn run_figure(id: FigureId, opts: &RunOptions) -> Result<Option<FigureReport>, ExpError> {
    // Before any work: the output directory exists (or is created) and is writable.
    crate::io::check_out_dir(&opts.out)?;
    let start = Instant::now();
    let stem = opts.out.join(id.stem());
    let json_path = stem.with_extension("json");
    let settings = opts
        .settings
        .table(id.settings_table())
        .map_err(|e| ExpError::output(&json_path, e))?;
    let record = RunRecord::new(opts, id, &settings);
    record.check(&opts.out)?;
    let mut run = FigureRun::new(opts, stem);
    run.record = Some(record);
    let Some(written) = id.figure().run(&run)? else {
        return Ok(None);
    };
    let count = run.count();
    let mut files: Vec<String> = written
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
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
        summary: written.summary,
        files,
    };
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| ExpError::output(&json_path, e))?;
    crate::io::write_atomic(&json_path, (text + "\n").as_bytes())?;
    Ok(Some(report))
}

/// The run record of figure `id` in `OUT/cache/<fig>.run.json`: what its chunks in `OUT` are
/// computed with (settings, seed, backend). A later run or shard on the same `OUT` with anything
/// else is refused with an error instead of mixing chunks of two experiments.
///
/// The record is written only when the run saves its first chunk ([`FigureRun::run_chunks`]), so
/// a run that fails before (bad settings, a diverging first chunk) leaves none; and a record
/// beside a cache that holds no chunk at all (an older run that failed early) never blocks: it is
/// replaced.
struct RunRecord {
    path: PathBuf,
    record: serde_json::Value,
    written: std::sync::Mutex<bool>,
}

impl RunRecord {
    fn new(opts: &RunOptions, id: FigureId, settings: &serde_json::Value) -> Self {
        RunRecord {
            path: opts
                .out
                .join("cache")
                .join(format!("{}.run.json", id.stem())),
            record: serde_json::json!({
                "figure": id.stem(),
                "settings": settings,
                "seed": opts.seed,
                "backend": opts.backend.to_string(),
            }),
            written: std::sync::Mutex::new(false),
        }
    }

    /// Before any work: fails if `OUT` holds this figure's chunks of a run with other settings.
    fn check(&self, out: &std::path::Path) -> Result<(), ExpError> {
        match std::fs::read_to_string(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ExpError::output(&self.path, e)),
            Ok(text) => self.compare(out, &text, true),
        }
    }

    /// Compares the stored record `text` with this run's; a differing one is refused, or, with
    /// `remove_stale` and no chunk in the cache (nothing to mix), removed.
    fn compare(
        &self,
        out: &std::path::Path,
        text: &str,
        remove_stale: bool,
    ) -> Result<(), ExpError> {
        let old: serde_json::Value = serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        if old == self.record {
            return Ok(());
        }
        if remove_stale && !has_chunks(&out.join("cache")) {
            let _ = std::fs::remove_file(&self.path);
            return Ok(());
        }
        let what =
            first_difference("", &old, &self.record).unwrap_or_else(|| "the run record".into());
        let fig = self.record["figure"].as_str().unwrap_or_default();
        let other = free_sibling(out, &old, &self.record);
        Err(ExpError::Usage(format!(
            "{} holds {fig} chunks of a run with other settings ({what}); use another --out (e.g. --out {}), or delete {} to mix them knowingly",
            out.display(),
            other.display(),
            self.path.display()
        )))
    }

    /// Before saving the first chunk: writes the record if absent (create-if-absent in one step,
    /// so concurrent shards that start together agree on one record), or checks it (strictly: a
    /// differing record written meanwhile by a concurrent run is refused, never replaced).
    fn write_once(&self, out: &std::path::Path) -> Result<(), ExpError> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written {
            return Ok(());
        }
        let path = &self.path;
        let dir = path.parent().unwrap_or(out);
        std::fs::create_dir_all(dir).map_err(|e| ExpError::output(dir, e))?;
        let text =
            serde_json::to_string_pretty(&self.record).map_err(|e| ExpError::output(path, e))?;
        // write a unique temporary file, then hard-link it into place; a record that appeared
        // since the run started (a concurrent run) must be this run's
        let tmp = crate::io::temp_path(path, true);
        if let Err(e) = std::fs::write(&tmp, &text) {
            let _ = std::fs::remove_file(&tmp);
            return Err(ExpError::output(path, e));
        }
        let done = match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match std::fs::read_to_string(path) {
                    Ok(existing) => self.compare(out, &existing, false),
                    Err(e) => Err(ExpError::output(path, e)),
                }
            }
            Err(e) => Err(ExpError::output(path, e)),
        };
        let _ = std::fs::remove_file(&tmp);
        done?;
        *written = true;
        Ok(())
    }
}

/// Whether the cache directory holds any chunk entry (`<SHA-256>.json`).
fn has_chunks(cache: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.strip_suffix(".json")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// A folder next to `out` that does not exist yet, for a run whose record `new` differs from the
/// one `old` in `out`: `OUT-seed7` when the seed differs, else `OUT-2`, `OUT-3`, ….
fn free_sibling(
    out: &std::path::Path,
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> PathBuf {
    let name = out
        .file_name()
        .map_or("figures".into(), |n| n.to_string_lossy().into_owned());
    let sibling = |suffix: String| out.with_file_name(format!("{name}-{suffix}"));
    if old["seed"] != new["seed"] {
        let seeded = sibling(format!("seed{}", new["seed"]));
        if !seeded.exists() {
            return seeded;
        }
    }
    (2..)
        .map(|k| sibling(k.to_string()))
        .find(|p| !p.exists())
        .expect("some numbered folder is free")
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

impl<'a> FigureRun<'a> {
    /// A run of the figure at `stem` with nothing resumed or trained yet.
    pub(crate) fn new(opts: &'a RunOptions, stem: PathBuf) -> Self {
        FigureRun {
            opts,
            stem,
            resumed: AtomicUsize::new(0),
            trained: AtomicUsize::new(0),
            record: None,
        }
    }

    /// The chunks resumed and trained so far.
    pub fn count(&self) -> ChunkCount {
        ChunkCount {
            resumed: self.resumed.load(Ordering::Relaxed),
            trained: self.trained.load(Ordering::Relaxed),
        }
    }

    /// The figure's progress bar (hidden when `opts.progress` is false); its length is set by
    /// [`FigureRun::run_chunks`].
    pub(crate) fn progress_bar(&self) -> ProgressBar {
        if self.opts.progress {
            let name = self.stem.file_name().unwrap_or_default().to_string_lossy();
            crate::progress::bar(0, format!("{name}: training steps"))
        } else {
            ProgressBar::hidden()
        }
    }

    /// Loads each job's chunk from the cache or trains it with `train(i)` and saves it,
    /// `opts.threads` jobs at a time; the results come back in job order (they do not depend on
    /// the threads). With `opts.shard`, only the shard's jobs are run and `None` is returned.
    pub(crate) fn run_chunks<K, T>(
        &self,
        jobs: &[ChunkJob<K, T::Expect>],
        pb: &ProgressBar,
        train: impl Fn(usize) -> Result<T, ExpError> + Sync,
    ) -> Result<Option<Vec<T>>, ExpError>
    where
        K: Serialize + Sync,
        T: Serialize + DeserializeOwned + Validate + Send,
        T::Expect: Sync,
    {
        let opts = self.opts;
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
            let (value, hit) = cache.get_or_compute(&job.key, &job.expect, || {
                let value = train(owned[n])?;
                // The first chunk about to be saved claims `OUT` for this run's settings.
                if let (Some(record), Ok(())) = (&self.record, value.check(&job.expect)) {
                    record.write_once(&opts.out)?;
                }
                Ok(value)
            })?;
            if hit {
                pb.inc(job.steps);
            }
            Ok((value, hit))
        })?;
        pb.finish_and_clear();
        let resumed = results.iter().filter(|(_, hit)| *hit).count();
        self.resumed.fetch_add(resumed, Ordering::Relaxed);
        self.trained
            .fetch_add(results.len() - resumed, Ordering::Relaxed);
        if opts.shard.is_some() {
            return Ok(None);
        }
        Ok(Some(results.into_iter().map(|(v, _)| v).collect()))
    }

    /// Writes the figure's files — `table` as `stem.csv`, then `plot` as `stem.png` / `.svg` —
    /// and returns them with the typed `summary`.
    pub(crate) fn write(
        &self,
        table: &Table,
        plot: &crate::plot::Figure,
        summary: &impl Serialize,
    ) -> Result<Written, ExpError> {
        let stem = &self.stem;
        let csv = stem.with_extension("csv");
        table.write(&csv)?;
        let mut files = vec![csv];
        let images = crate::plot::render(plot, stem, self.opts.format);
        files.extend(images.map_err(|e| ExpError::output(stem, e))?);
        let summary = serde_json::to_value(summary).map_err(|e| ExpError::output(stem, e))?;
        Ok(Written { summary, files })
    }
}

/// The widths vector 2 → n → … → n → 1 of an MLP with `depth` layers.
pub(crate) fn widths(width: usize, depth: usize) -> Vec<usize> {
    let mut w = vec![2];
    w.extend(std::iter::repeat_n(width, depth - 1));
    w.push(1);
    w
}

/// The MLP of hidden width `width` of a figure's `training`, with activation φ and output scale κ.
pub(crate) fn mlp_config(
    training: &Training,
    width: usize,
    activation: Activation,
    kappa: f64,
) -> MlpConfig {
    MlpConfig {
        sigma_w: training.sigma_w,
        sigma_b: training.sigma_b,
        kappa,
        ..MlpConfig::new(widths(width, training.depth), activation)
    }
}

/// The kernel that drives training with `surrogate`: the NTK for gradient descent
/// ([`Surrogate::True`]), else the SG-NTK.
pub(crate) fn driving_kernel(surrogate: Surrogate) -> KernelKind {
    match LearningRule::with_backward(surrogate) {
        LearningRule::Gd => KernelKind::Ntk,
        LearningRule::Sgl(_) => KernelKind::SgNtk,
    }
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

/// Trains `ensemble` as `config` says, advancing `pb` (count and loss) as it goes through the
/// model-free progress observer (the model is not touched until the end).
pub(crate) fn train_with_progress(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    pb: &ProgressBar,
) -> Result<TrainReport, ExpError> {
    let mut progress = crate::progress::observer(pb, || false);
    let report = train_reporting(
        ensemble,
        data,
        config,
        &[],
        |_, _| Ok(()),
        Some(&mut progress),
    )?;
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
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.clamp(1, n.max(1)))
        .build()
        .map_err(|e| ExpError::Usage(format!("cannot start {threads} threads: {e}")))?;
    // Inside the pool, the engines' own rayon loops share its threads.
    pool.install(|| (0..n).into_par_iter().map(&job).collect())
}

/// The cache of a run. Its context — added here, once, to every figure's keys — holds the
/// settings of this build and machine that decide the numbers besides the figure's settings: the
/// backend, the training engine `Engine::Auto` resolves to there, the parameters' dtype and, for
/// the fused engines, the instruction set and the lowrank plan (see [`crate::cache`]).
pub(crate) fn cache(opts: &RunOptions) -> Result<Cache, ExpError> {
    let device = opts.backend.device()?;
    let probe_config = MlpConfig::new(widths(1, 2), sgntk_model::Activation::Sign);
    let probe = chunk_ensemble(&probe_config, 0, 0..1, &device)?;
    let engine = sgntk_model::Engine::default().resolve(&probe);
    let dtype = probe
        .layers()
        .first()
        .map(|l| format!("{:?}", l.weight.dtype()));
    let isa = matches!(
        engine,
        sgntk_model::Engine::Fused | sgntk_model::Engine::Lowrank
    )
    .then(|| format!("{:?}", sgntk_model::fused::Isa::detect()));
    Ok(Cache::new(&opts.out).with_context(serde_json::json!({
        "backend": opts.backend.to_string(),
        "engine": engine,
        "dtype": dtype,
        "isa": isa,
        // the lowrank engine's arrangement for sign networks (the others use the plain step)
        "plan": (engine == sgntk_model::Engine::Lowrank).then(|| {
            format!("{:?}", sgntk_model::fused::Plan::tuned(sgntk_model::Activation::Sign))
        }),
    })))
}
