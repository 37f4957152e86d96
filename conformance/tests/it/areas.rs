//! What every area of the registry must have: committed traces equal to a
//! fresh generation, reviewed narratives, a counterexample per flaw, and
//! clear errors for names the registry does not know.

use crate::{assert_generated_traces_match, assert_narratives_are_snapshots};
use fabric_conformance::areas::{self, AREAS};

#[test]
fn every_area_s_traces_are_committed_reviewed_and_cover_its_flaws() {
    assert!(AREAS.len() >= 2, "the registry lost an area");
    for area in AREAS {
        let files = area.traces(&mut |_| {}).expect("generation succeeds");
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
    let error = areas::select("nosuch").err().expect("nosuch is no area");
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
