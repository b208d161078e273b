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
