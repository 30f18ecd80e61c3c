//! A bounded, seeded mutation fuzzer for the manifest loader, run by the test
//! command. cargo-fuzz needs a nightly toolchain this project does not have,
//! so the same idea runs on stable: every file of the committed corpus
//! (`fuzz/corpus/`) is mutated (byte flips, insertions of YAML-significant
//! bytes, splices, truncations, duplications) for a fixed number of rounds,
//! and the loader must never panic and must place every diagnostic at a
//! real line and column. Set `FNCTL_FUZZ_ROUNDS` for a longer run and
//! `FNCTL_FUZZ_SEED` to replay one; both are printed.

use std::path::{Path, PathBuf};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b":",
    b"- ",
    b"\n",
    b"  ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"&a ",
    b"*a",
    b"<<: ",
    b"\"",
    b"'",
    b"#",
    b"!!binary ",
    b"? ",
    b"|",
    b">",
    b"\t",
    b"\0",
    b"\xff",
    b"version: 1\n",
    b"name: ",
    b"kind: source",
    b"999999999999999999999",
    b"~",
];

fn mutate(input: &[u8], corpus: &[Vec<u8>], random: &mut Random) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=random.below(4) {
        let at = random.below(data.len() + 1);
        match random.below(6) {
            0 if !data.is_empty() => {
                let at = at.min(data.len() - 1);
                data[at] ^= 1 << random.below(8);
            }
            1 => {
                let piece = INTERESTING[random.below(INTERESTING.len())];
                data.splice(at..at, piece.iter().copied());
            }
            2 => {
                let other = &corpus[random.below(corpus.len())];
                let from = random.below(other.len());
                let to = (from + random.below(64)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
            3 => data.truncate(at),
            4 if !data.is_empty() => {
                let from = random.below(data.len());
                let to = (from + random.below(32)).min(data.len());
                let copy = data[from..to].to_vec();
                data.splice(at..at, copy);
            }
            _ => {
                let end = (at + random.below(16)).min(data.len());
                data.drain(at..end);
            }
        }
    }
    data
}

fn corpus_files() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("fuzz/corpus exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the committed corpus is missing");
    files
}

#[test]
fn mutated_corpus_never_panics_the_loader() {
    let seed: u64 = std::env::var("FNCTL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F00D);
    let rounds: usize = std::env::var("FNCTL_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    eprintln!("fuzzing the loader: FNCTL_FUZZ_SEED={seed} FNCTL_FUZZ_ROUNDS={rounds}");
    let corpus: Vec<Vec<u8>> = corpus_files()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mut random = Random(seed | 1);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("fuzzed.yaml");
    for round in 0..rounds {
        let base = &corpus[round % corpus.len()];
        let input = mutate(base, &corpus, &mut random);
        std::fs::write(&path, &input).unwrap();
        let outcome =
            std::panic::catch_unwind(|| fnctl::manifest::load(std::slice::from_ref(&path)));
        let set = outcome.unwrap_or_else(|_| {
            panic!(
                "round {round} (seed {seed}) panicked the loader on input {:?}",
                String::from_utf8_lossy(&input)
            )
        });
        // YAML breaks lines at \n, \r\n and a lone \r (and NEL, LS, PS).
        let text = String::from_utf8_lossy(&input).replace("\r\n", "\n");
        let lines = text
            .chars()
            .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
            .count()
            + 1;
        for diagnostic in &set.diagnostics {
            assert!(
                diagnostic.line >= 1 && diagnostic.column >= 1,
                "round {round}: diagnostic at {}:{}",
                diagnostic.line,
                diagnostic.column
            );
            assert!(
                diagnostic.line <= lines + 1,
                "round {round}: line {} past the end ({lines} lines): {:?}",
                diagnostic.line,
                diagnostic
            );
        }
    }
}

#[test]
fn every_corpus_file_loads_without_panicking() {
    for file in corpus_files() {
        let set = fnctl::manifest::load(std::slice::from_ref(&file));
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        match name.as_str() {
            "valid-acme.yaml" | "every-field.yaml" => {
                assert!(!set.has_errors(), "{name}: {}", set.render_diagnostics())
            }
            "multi.yaml" => assert!(
                set.diagnostics
                    .iter()
                    .any(|d| d.code == "multiple-documents"),
                "{name}: {:?}",
                set.diagnostics
            ),
            _ => {}
        }
    }
}
