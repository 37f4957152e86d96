//! What every area of the registry must have: committed traces equal to a
//! fresh generation, reviewed narratives, a counterexample per flaw, and
//! clear errors for names the registry does not know.

use crate::{assert_generated_traces_match, assert_narratives_are_snapshots};
use fabric_conformance::areas::{self, AREAS};

#[test]
fn every_area_s_traces_are_committed_reviewed_and_cover_its_flaws() {
    assert!(AREAS.len() >= 2, "the registry lost an area");
    for area in AREAS {
        let generated = area.traces(&mut |_| {}).expect("generation succeeds");
        let (files, coverage) = (generated.files, generated.coverage);
        // Generation fails rather than leave a reachable pair; the count
        // `traces generate` prints says so, and counts the coverage files.
        assert!(
            coverage.pairs() > 0 && coverage.taken() == coverage.pairs(),
            "{coverage}"
        );
        assert_eq!(
            coverage.traces,
            files
                .iter()
                .filter(|f| f.name.starts_with("coverage-"))
                .count(),
            "{coverage}"
        );
        for flaw in area.flaws() {
            assert!(
                files
                    .iter()
                    .any(|f| f.name == format!("flaw-{}", flaw.name)),
                "{}: no counterexample for {}",
                area.name(),
                flaw.name
            );
        }
        assert_generated_traces_match(area.name(), &files);
        assert_narratives_are_snapshots(area.name(), &files);
    }
}

#[test]
fn an_unknown_area_is_an_error_naming_the_known_ones() {
    let Err(error) = areas::select("nosuch") else {
        panic!("nosuch is no area");
    };
    let message = error.to_string();
    for area in AREAS {
        assert!(message.contains(area.name()), "{message}");
    }
    assert!(areas::select("all").is_ok_and(|all| all.len() == AREAS.len()));
}

#[test]
fn area_names_and_flaw_names_are_unique() {
    let mut names: Vec<&str> = AREAS.iter().map(|a| a.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), AREAS.len(), "two areas share a name");
    let mut flaws: Vec<&str> = AREAS
        .iter()
        .flat_map(|a| a.flaws())
        .map(|f| f.name)
        .collect();
    let count = flaws.len();
    flaws.sort_unstable();
    flaws.dedup();
    assert_eq!(
        flaws.len(),
        count,
        "two flaws share a name: --flaw would be ambiguous"
    );
}

/// Every number inside `value` set to 99: an index no bound admits.
fn out_of_range(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => *n = 99.into(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(out_of_range),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(out_of_range),
        _ => {}
    }
}

#[test]
fn a_trace_naming_what_does_not_exist_is_an_error_naming_file_and_step() {
    let dir = std::env::temp_dir().join(format!("fabric-out-of-range-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for area in AREAS {
        let committed = crate::root()
            .join("traces")
            .join(area.name())
            .join("coverage-01.itf.json");
        let text = std::fs::read_to_string(&committed).expect("coverage-01 exists");
        let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let states = doc["states"].as_array_mut().expect("states");
        let action = states
            .iter_mut()
            .skip(1)
            .map(|state| &mut state["action"])
            .find(|action| action.to_string().chars().any(|c| c.is_ascii_digit()))
            .expect("an action with an index");
        out_of_range(action);
        let path = dir.join(format!("{}-index-99.itf.json", area.name()));
        std::fs::write(&path, doc.to_string()).expect("write");
        let outcome = std::panic::catch_unwind(|| {
            areas::replay_file(
                &path,
                fabric_conformance::replay::Transport::Inproc,
                fabric_impl::bugs::BugSet::NONE,
            )
        });
        let result = outcome.unwrap_or_else(|_| panic!("{}: replay panicked", area.name()));
        let message = format!("{:#}", result.expect_err("an index 99 trace is refused"));
        assert!(
            message.contains(&path.display().to_string()) && message.contains("step"),
            "{}: {message}",
            area.name()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `area`'s committed `coverage-01` trace, as JSON.
fn coverage_01(area: &str) -> serde_json::Value {
    let path = crate::root()
        .join("traces")
        .join(area)
        .join("coverage-01.itf.json");
    let text = std::fs::read_to_string(path).expect("coverage-01 exists");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn a_trace_that_exercises_nothing_fails() {
    let dir = std::env::temp_dir().join(format!("fabric-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for area in AREAS {
        let mut doc = coverage_01(area.name());
        doc["states"].as_array_mut().expect("states").truncate(1);
        let path = dir.join(format!("{}-no-step.itf.json", area.name()));
        std::fs::write(&path, doc.to_string()).expect("write");
        let result = areas::replay_file(
            &path,
            fabric_conformance::replay::Transport::Inproc,
            fabric_impl::bugs::BugSet::NONE,
        );
        let message = format!("{:#}", result.expect_err("a trace with no step is refused"));
        assert!(message.contains("no step"), "{}: {message}", area.name());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_claims_tally_comes_from_the_model_not_the_file() {
    let dir = std::env::temp_dir().join(format!("fabric-claims-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for area in AREAS {
        let replay = |doc: &serde_json::Value, name: &str| {
            let path = dir.join(format!("{}-{name}.itf.json", area.name()));
            std::fs::write(&path, doc.to_string()).expect("write");
            areas::replay_file(
                &path,
                fabric_conformance::replay::Transport::Inproc,
                fabric_impl::bugs::BugSet::NONE,
            )
            .unwrap_or_else(|e| panic!("{}: {e:#}", area.name()))
        };
        let doc = coverage_01(area.name());
        let honest = replay(&doc, "honest");
        assert!(
            !honest.claims_matched.is_empty(),
            "{}: no claim",
            area.name()
        );
        // A file that says every step speaks to AUD-1, and nothing else.
        let mut edited = doc.clone();
        for state in edited["states"].as_array_mut().expect("states") {
            state["claims"] = serde_json::json!({ "#set": ["AUD-1"] });
        }
        edited["#meta"]["claims"] = serde_json::json!("AUD-1");
        let inflated = replay(&edited, "inflated");
        assert_eq!(
            inflated.claims_matched,
            honest.claims_matched,
            "{}: the tally followed the file",
            area.name()
        );
        assert!(!inflated.claims_matched.contains_key("AUD-1"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
