//! Progress on long loops (indicatif), on stderr. On a terminal: a bar with the count, the current
//! loss where there is one, and an estimate of the time left. When stderr is not a terminal (a
//! pipe, a log file, a Slurm task): a plain line every [`LINE_INTERVAL`] with the same facts, so
//! that a long run is never silent (`SGNTK_PROGRESS_EVERY=SECONDS` sets the interval);
//! `SGNTK_PROGRESS=off` turns both off.

use std::io;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use sgntk_model::ModelError;

/// How often a plain progress line is written when stderr is not a terminal (unless
/// `SGNTK_PROGRESS_EVERY` says otherwise).
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// The line interval: `SGNTK_PROGRESS_EVERY` seconds when set to a positive number.
fn line_interval() -> Duration {
    std::env::var("SGNTK_PROGRESS_EVERY")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e6)
        .map_or(LINE_INTERVAL, Duration::from_secs_f64)
}

/// A progress bar over `total` units with a message (see the module docs for where it draws).
pub fn bar(total: u64, message: impl Into<String>) -> ProgressBar {
    let off = std::env::var("SGNTK_PROGRESS").is_ok_and(|v| v == "off" || v == "0");
    let (target, template) = if off {
        (ProgressDrawTarget::hidden(), "{msg}")
    } else if io::stderr().is_terminal() {
        (
            ProgressDrawTarget::stderr(),
            "{msg:>28} [{elapsed_precise}] {wide_bar} {pos}/{len} {prefix}(eta {eta})",
        )
    } else {
        let lines = Lines {
            every: line_interval(),
            started: Instant::now(),
            state: Mutex::new((None, String::new())),
        };
        (
            ProgressDrawTarget::term_like_with_hz(Box::new(lines), 20),
            "progress: {msg} {pos}/{len} ({percent}%), {prefix}elapsed {elapsed}, eta {eta}",
        )
    };
    let pb = ProgressBar::with_draw_target(Some(total), target);
    pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
    pb.set_message(message.into());
    pb
}

/// Shows `loss` (the mean training loss just computed) next to the count.
pub fn show_loss(pb: &ProgressBar, loss: f64) {
    pb.set_prefix(format!("loss {loss:.3e}, "));
}

/// The training loop's progress observer ([`sgntk_model::Progress`]) for one run: advances `pb`
/// by the steps done since its last call (so runs may share a bar, in turn or in parallel), shows
/// the loss, and stops training with [`ModelError::Interrupted`] when `stop()` says so.
pub fn observer<'a>(
    pb: &'a ProgressBar,
    mut stop: impl FnMut() -> bool + 'a,
) -> impl FnMut(usize, f64) -> Result<(), ModelError> + 'a {
    let mut last = 0;
    move |step, loss| {
        pb.inc(step.saturating_sub(last) as u64);
        last = step;
        show_loss(pb, loss);
        match stop() {
            true => Err(ModelError::Interrupted { step }),
            false => Ok(()),
        }
    }
}

/// A draw target that turns indicatif's redraws into one plain line every [`LINE_INTERVAL`].
#[derive(Debug)]
struct Lines {
    every: Duration,
    started: Instant,
    /// When the last line was written, and the text of the redraw in progress.
    state: Mutex<(Option<Instant>, String)>,
}

impl TermLike for Lines {
    fn width(&self) -> u16 {
        120
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1.push_str(s.trim_matches(['\r', '\n']));
        Ok(())
    }

    fn clear_line(&self) -> io::Result<()> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let since = state.0.unwrap_or(self.started).elapsed();
        let text = std::mem::take(&mut state.1);
        if since >= self.every && !text.trim().is_empty() {
            state.0 = Some(Instant::now());
            writeln!(io::stderr().lock(), "{}", text.trim())?;
        }
        Ok(())
    }
}

/// Analytic kernels estimated to take at least this long get an estimate line and a bar.
pub const KERNEL_ESTIMATE_THRESHOLD_S: f64 = 1.0;

/// The command line's [`sgntk_ntk::KernelProgress`]: for a kernel matrix estimated to take at
/// least [`KERNEL_ESTIMATE_THRESHOLD_S`] (the quadrature paths, e.g. tanh, take milliseconds per
/// entry) it prints the estimate up front and draws a bar over the entries, when stderr is a
/// terminal.
#[derive(Default)]
pub struct KernelBar {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl sgntk_ntk::KernelProgress for KernelBar {
    fn start(&self, entries: u64, estimate_s: f64) {
        // like the bars: only on a terminal, so logs, pipes and tests stay clean
        use std::io::IsTerminal as _;
        if estimate_s < KERNEL_ESTIMATE_THRESHOLD_S || !std::io::stderr().is_terminal() {
            return;
        }
        eprintln!(
            "analytic kernel: {entries} entries, estimated {} ({:.3} s per entry on {} threads)",
            human_seconds(estimate_s),
            estimate_s * rayon::current_num_threads() as f64 / entries.max(1) as f64,
            rayon::current_num_threads()
        );
        let pb = bar(entries, "kernel entries");
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
    }

    fn advance(&self, entries: u64) {
        if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            pb.inc(entries);
        }
    }

    fn finish(&self) {
        if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}

/// `s` seconds as `42 s`, `3.5 min` or `2.1 h`.
pub fn human_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
