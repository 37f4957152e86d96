//! The claims catalogue: every NET and storage row links to five real things.

use crate::root;
use fabric_conformance::claims::{parse_catalogue, problems, shared_ids};

fn catalogue() -> Vec<fabric_conformance::claims::Row> {
    let text =
        std::fs::read_to_string(root().join("docs/claims.md")).expect("docs/claims.md exists");
    parse_catalogue(&text)
}

#[test]
fn every_net_row_is_fully_traceable() {
    let rows = catalogue();
    let net: Vec<_> = rows.iter().filter(|r| r.id.starts_with("NET-")).collect();
    assert_eq!(net.len(), 15, "NET-1 to NET-15 each have a row");
    for row in net {
        let found = problems(&root(), row);
        assert!(found.is_empty(), "{}: {found:?}", row.id);
    }
}

#[test]
fn every_storage_row_is_fully_traceable() {
    let rows = catalogue();
    let storage: Vec<_> = rows
        .iter()
        .filter(|r| r.id.starts_with("STO-") || r.id == "GEO-1" || r.id == "DRV-1")
        .collect();
    assert_eq!(
        storage.len(),
        11,
        "STO-1 to STO-9, GEO-1 and DRV-1 each have a row"
    );
    for row in storage {
        let found = problems(&root(), row);
        assert!(found.is_empty(), "{}: {found:?}", row.id);
    }
    // A storage row pointing at the wrong model's flaw fails.
    let sto3 = rows.iter().find(|r| r.id == "STO-3").expect("STO-3 row");
    let mut wrong = sto3.clone();
    wrong.flaw = "lease-not-checked".into();
    assert!(
        !problems(&root(), &wrong).is_empty(),
        "a flaw that does not break STO-3 passed"
    );
}

#[test]
fn a_row_that_loses_any_link_fails_the_check() {
    let rows = catalogue();
    let row = rows.iter().find(|r| r.id == "NET-8").expect("NET-8 row");
    let broken_rows = [
        ("property", {
            let mut r = row.clone();
            r.property = "NET-8 no such property".into();
            r
        }),
        ("flaw", {
            let mut r = row.clone();
            r.flaw = "remote-access-open".into();
            r
        }),
        ("enforcement", {
            let mut r = row.clone();
            r.enforcement = "impl/src/net/rules.rs".into();
            r
        }),
        ("test", {
            let mut r = row.clone();
            r.test = "conformance/tests/it/replay.rs::no_such_test".into();
            r
        }),
        ("trace", {
            let mut r = row.clone();
            r.trace = "traces/network/flaw-edge-exposes-dips.itf.json".into();
            r
        }),
        ("pending", {
            let mut r = row.clone();
            r.trace = "pending".into();
            r
        }),
    ];
    for (link, bad) in broken_rows {
        assert!(
            !problems(&root(), &bad).is_empty(),
            "losing the {link} link went unnoticed"
        );
    }
}

#[test]
fn the_catalogue_lists_every_shared_claim_id() {
    let shared = root().join("../shared/CLAIMS.md");
    let text =
        std::fs::read_to_string(&shared).expect("../shared/CLAIMS.md sits beside the checkout");
    let ids = shared_ids(&text);
    assert!(ids.len() >= 45, "read the shared IDs: {}", ids.len());
    let listed: Vec<String> = catalogue().into_iter().map(|r| r.id).collect();
    for id in ids {
        assert!(listed.contains(&id), "{id} is missing from docs/claims.md");
    }
}
