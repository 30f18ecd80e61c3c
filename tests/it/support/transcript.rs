//! Everything fnctl printed (and files it wrote) in a test, searched for
//! external IDs: no ID may leave a bundle.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::command::Output;

/// Texts by where they came from (a stream of a run, a file).
#[derive(Default)]
pub struct Transcript {
    entries: Mutex<Vec<(String, String)>>,
}

impl Transcript {
    /// Remembers `text` (an output stream or a file) under `label`.
    pub fn record(&self, label: impl Into<String>, text: impl Into<String>) {
        self.entries
            .lock()
            .unwrap()
            .push((label.into(), text.into()));
    }

    /// Remembers both streams of a run.
    pub fn record_output(&self, command: &str, out: &Output) {
        self.record(format!("stdout of `fnctl {command}`"), out.stdout.clone());
        self.record(format!("stderr of `fnctl {command}`"), out.stderr.clone());
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    /// Panics naming the first place where any of `secrets` appears (also
    /// its first 24 characters); and when `secrets` is empty, since the
    /// check would then prove nothing.
    pub fn assert_free_of(&self, secrets: &BTreeSet<String>) {
        assert!(
            !secrets.is_empty(),
            "no external ID was collected: the check would prove nothing"
        );
        self.assert_none_of(secrets);
    }

    /// [`Transcript::assert_free_of`] for a test that may have issued no ID.
    pub fn assert_none_of(&self, secrets: &BTreeSet<String>) {
        for (label, text) in self.entries.lock().unwrap().iter() {
            for secret in secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "an external ID appears in {label}:\n{}",
                    excerpt(text, secret)
                );
                // A prefix long enough to identify the ID (truncated logs).
                let prefix = &secret[..secret.len().min(24)];
                assert!(
                    !text.contains(prefix),
                    "the first 24 characters of an external ID appear in {label}:\n{}",
                    excerpt(text, prefix)
                );
            }
        }
    }
}

/// The text around `needle`, with `needle` masked so that the failure
/// message does not itself spread the secret further than needed.
fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(200)
        .map_or(0, |(i, _)| i);
    let end = (at + needle.len() + 200).min(text.len());
    let end = (end..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..end].replace(needle, "<THE-EXTERNAL-ID>")
}
