//! Integration tests of the conformance crate: one binary, a module per concern.

// A test reads as one scenario from top to bottom, so the size lint
// (100 lines) is for the library code, not for tests.
#![allow(clippy::too_many_lines)]

mod architecture;
mod areas;
mod claims;
mod cli;
mod linearizable;
mod replay;
mod seeded_bugs;
mod storage_observe;
mod storage_sdk;
mod storage_traces;
mod traces;
mod verdicts;

use fabric_conformance::areas::{replay_file, TraceFile};
use fabric_conformance::replay::{Transport, Verdict};
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

/// The flaws whose counterexample the implementation can stop only when a
/// later step reads what the flaw changed: (flaw, the step where it departs
/// from the correct model, the step where the implementation shows it).
const SHOWN_WHEN_READ: [(&str, usize, usize); 2] = [
    // The model's SAS keeps the policy it was issued under, a ghost no
    // request shows; the next use of the SAS does.
    ("policy-change-not-applied", 2, 4),
    // The model's block numbers are not shown; the read of the reused
    // block is.
    ("reused-blocks-not-zeroed", 10, 11),
];

/// Replays the trace at `path` and asserts it passed: every step matched,
/// or (a flaw's counterexample) the implementation stopped it.
pub fn assert_replay_passes(path: &Path, transport: Transport) {
    let report = replay_file(path, transport, BugSet::NONE).unwrap_or_else(|e| panic!("{e:#}"));
    let name = path.file_name().expect("name").to_string_lossy();
    if name.starts_with("flaw-") {
        let Verdict::StoppedAsExpected { step, flaw_step } = report.verdict else {
            panic!("{name}: {:?}", report.verdict);
        };
        // A flaw is stopped at its own step, but for the few that change
        // only state the implementation shows when a later step reads it.
        let late = SHOWN_WHEN_READ
            .iter()
            .find(|(flaw, _, _)| name == format!("flaw-{flaw}.itf.json"));
        match late {
            Some((_, flaw_at, read_at)) => assert_eq!(
                (flaw_step, step),
                (*flaw_at, *read_at),
                "{name}: the flaw's step and the reading step"
            ),
            None => assert_eq!(step, flaw_step, "{name}: stopped after the flaw's step"),
        }
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

/// Asserts that freshly generated `files` of `area` equal the committed
/// files under `traces/<area>/`, name for name and byte for byte.
pub fn assert_generated_traces_match(area: &str, files: &[TraceFile]) {
    let mut fresh: Vec<(String, String)> = files
        .iter()
        .flat_map(|f| {
            [
                (format!("{}.itf.json", f.name), f.itf.clone()),
                (format!("{}.md", f.name), f.narrative.clone()),
            ]
        })
        .collect();
    fresh.sort();
    let committed = files_in(&root().join("traces").join(area));
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&fresh),
        names(&committed),
        "{area} trace files differ: run `cargo run --release -- traces generate`"
    );
    for ((name, a), (_, b)) in fresh.iter().zip(&committed) {
        assert!(a == b, "{name} drifted from the model: run `cargo run --release -- traces generate` and review the diff");
    }
}

/// Asserts each trace's narrative equals its reviewed insta snapshot under
/// `traces/<area>/snapshots/`, and that no snapshot is left whose trace is
/// no longer generated.
pub fn assert_narratives_are_snapshots(area: &str, files: &[TraceFile]) {
    let dir = root().join("traces").join(area).join("snapshots");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for file in files {
            insta::assert_snapshot!(file.name.as_str(), file.narrative.as_str());
        }
    });
    let names: Vec<String> = files.iter().map(|f| format!("{}.snap", f.name)).collect();
    for (file, _) in files_in(&dir) {
        if file.ends_with(".snap") {
            assert!(
                names.contains(&file),
                "stale snapshot {file}: its trace is gone"
            );
        }
    }
}
