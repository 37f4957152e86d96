//! Integration tests of the conformance crate: one binary, a module per concern.

mod architecture;
mod claims;
mod cli;
mod linearizable;
mod replay;
mod seeded_bugs;
mod storage_sdk;
mod storage_traces;
mod traces;

use fabric_conformance::cli::{replay_file, Transport};
use fabric_conformance::replay::Verdict;
use fabric_impl::bugs::BugSet;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file directly in `dir`, by name, with its text, sorted by name.
pub fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("folder exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    out.sort();
    out
}

/// Replays the trace at `path` and asserts it passed: every step matched,
/// or (a flaw's counterexample) the implementation stopped it.
pub fn assert_replay_passes(path: &Path, transport: Transport) {
    let report = replay_file(path, transport, BugSet::NONE).unwrap_or_else(|e| panic!("{e:#}"));
    let name = path.file_name().expect("name").to_string_lossy();
    if name.starts_with("flaw-") {
        assert!(
            matches!(report.verdict, Verdict::StoppedAsExpected { .. }),
            "{name}: {:?}",
            report.verdict
        );
        assert!(
            report.steps_matched < report.steps_total,
            "{name}: a stopped trace matched every step"
        );
    } else {
        assert_eq!(report.verdict, Verdict::Matched, "{name}");
        assert_eq!(
            report.steps_matched, report.steps_total,
            "{name}: skipped steps"
        );
        assert!(report.steps_total > 0, "{name}: empty");
    }
}
