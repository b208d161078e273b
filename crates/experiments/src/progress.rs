//! Progress bars on long loops (indicatif). They draw to stderr and stay silent when stderr is not
//! a terminal, so logs and tests stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `total` units with a message, hidden when stderr is not a terminal.
pub fn bar(total: u64, message: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>28} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
        )
        .expect("valid template"),
    );
    pb.set_message(message.into());
    pb
}

/// Analytic kernels estimated to take at least this long get an estimate line and a bar.
pub const KERNEL_ESTIMATE_THRESHOLD_S: f64 = 2.0;

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
