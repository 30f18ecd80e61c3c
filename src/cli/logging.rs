//! Where the core's log lines go: stderr, filtered by `-v`. Warnings always
//! show; `-v` adds what each account read and wrote; `-vv` adds each IAM
//! call (API, role, duration — never a body). The core never prints.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level && metadata.target().starts_with("fnctl")
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let prefix = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            Level::Info | Level::Debug | Level::Trace => "",
        };
        eprintln!("{prefix}{}", record.args());
    }

    fn flush(&self) {}
}

/// Installs the logger once, for `verbose` times `-v`.
pub(crate) fn install(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    };
    if log::set_boxed_logger(Box::new(StderrLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}
