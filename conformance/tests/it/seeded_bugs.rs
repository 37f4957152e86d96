//! The harness can fail, for the reason it names: with each seeded
//! implementation bug switched on, replaying one named trace departs at a
//! named step, where the trace (the model) predicts one thing and the
//! implementation, with the bug, does another; the same trace without the
//! bug passes. A departure elsewhere, or with other outcomes, fails the
//! test, and its message names where the bug was first caught instead.

use crate::root;
use fabric_conformance::areas::replay_file;
use fabric_conformance::replay::{collect_trace_files, Transport, Verdict};
use fabric_impl::bugs::{BugSet, SeededBug};
use std::path::Path;

/// Where a seeded bug must be caught.
struct Catch {
    /// The trace, under `traces/`.
    file: &'static str,
    /// The step that departs, from 1.
    step: usize,
    /// What the trace predicts there: an outcome in full, or for a state
    /// that differs, `var = ` (the value is the trace's own).
    expected: &'static str,
    /// What the implementation with the bug does there.
    observed: &'static str,
}

/// Where a replay with `bugs` departed: (step, expected, observed, claims).
fn departure(path: &Path, bugs: BugSet) -> Option<(usize, String, String, Vec<String>)> {
    let report = replay_file(path, Transport::Inproc, bugs).expect("replays");
    match report.verdict {
        Verdict::Mismatch(m) => Some((m.step, m.expected, m.observed, m.claims)),
        _ => None,
    }
}

/// The first coverage or walk trace of the bug's area that catches it, as
/// a `Catch` literal, for the failure message.
fn first_catch(bug: SeededBug) -> String {
    let area = if bug.claim().starts_with("NET-") {
        "network"
    } else {
        "storage"
    };
    let files = collect_trace_files(&[root().join("traces").join(area)]).expect("traces");
    for path in files
        .iter()
        .filter(|p| !p.to_string_lossy().contains("/flaw-"))
    {
        if let Some((step, expected, observed, claims)) = departure(path, BugSet::only(bug)) {
            if claims.iter().any(|c| c == bug.claim()) {
                let file = path
                    .strip_prefix(root().join("traces"))
                    .expect("under traces");
                return format!(
                    "Catch {{ file: {:?}, step: {step}, expected: {expected:?}, observed: {observed:?} }}",
                    file.display().to_string()
                );
            }
        }
    }
    "nowhere".into()
}

fn caught(bug: SeededBug, catch: &Catch) {
    let path = root().join("traces").join(catch.file);
    let clean = replay_file(&path, Transport::Inproc, BugSet::NONE).expect("replays");
    assert_eq!(
        clean.verdict,
        Verdict::Matched,
        "{}: fails without the bug",
        catch.file
    );
    let found = departure(&path, BugSet::only(bug));
    let pinned = found
        .as_ref()
        .is_some_and(|(step, expected, observed, claims)| {
            *step == catch.step
                && expected.starts_with(catch.expected)
                && !catch.expected.is_empty()
                && observed == catch.observed
                && claims.iter().any(|c| c == bug.claim())
        });
    assert!(
        pinned,
        "{bug:?}: expected at {} step {}: {} -> {} [{}]; the replay found {found:?}; first caught at {}",
        catch.file,
        catch.step,
        catch.expected,
        catch.observed,
        bug.claim(),
        first_catch(bug)
    );
}

macro_rules! seeded_bug_tests {
    ($($name:ident => $bug:ident at $catch:expr),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                caught(SeededBug::$bug, &$catch);
            }
        )+

        #[test]
        fn every_seeded_bug_has_a_test() {
            let tested = [$(SeededBug::$bug),+];
            // Two of the store's bugs need concurrency or a replica lost
            // right after an acknowledgement, which a sequential trace never
            // has: the store's unit tests and the linearizability check over
            // HTTP catch them.
            let elsewhere = [SeededBug::AckAfterOneReplica, SeededBug::ReadsIgnoreWatermark];
            for bug in SeededBug::ALL.into_iter().filter(|b| !elsewhere.contains(b)) {
                assert!(tested.contains(&bug), "{bug:?} has no test");
            }
        }
    };
}

seeded_bug_tests! {
    seeded_bug_net_1_is_caught => RouterAdmitsMainToFc at Catch {
        file: "network/coverage-04.itf.json",
        step: 1,
        expected: r##"Dropped { reason: VlanPolicy }"##,
        observed: r##"Delivered { to: [Fc(0)] }"##,
    },
    seeded_bug_net_2_is_caught => RouterAdmitsMainToDevice at Catch {
        file: "network/coverage-03.itf.json",
        step: 8,
        expected: r##"Dropped { reason: VlanPolicy }"##,
        observed: r##"Dropped { reason: ConntrackFull }"##,
    },
    seeded_bug_net_3_is_caught => RouterHostPinhole at Catch {
        file: "network/coverage-04.itf.json",
        step: 1,
        expected: r##"Dropped { reason: VlanPolicy }"##,
        observed: r##"Delivered { to: [Fc(0)] }"##,
    },
    seeded_bug_net_4_is_caught => NoSourceCheck at Catch {
        file: "network/coverage-01.itf.json",
        step: 16,
        expected: r##"Dropped { reason: SpoofedSource }"##,
        observed: r##"Dropped { reason: NotInAllowList }"##,
    },
    seeded_bug_net_5_is_caught => SwitchFloods at Catch {
        file: "network/coverage-02.itf.json",
        step: 4,
        expected: r##"Delivered { to: [Vm(1)] }"##,
        observed: r##"Delivered { to: [Vm(1), Vm(3)] }"##,
    },
    seeded_bug_net_6_is_caught => NoInfrastructureFilter at Catch {
        file: "network/coverage-04.itf.json",
        step: 6,
        expected: r##"Dropped { reason: InfrastructureEndpoint }"##,
        observed: r##"Dropped { reason: VlanPolicy }"##,
    },
    seeded_bug_net_7_is_caught => BroadcastPasses at Catch {
        file: "network/coverage-01.itf.json",
        step: 1,
        expected: r##"Delivered { to: [Host(1), Storage] }"##,
        observed: r##"Delivered { to: [Host(1), Vm(0), Vm(2), Storage] }"##,
    },
    seeded_bug_net_8_is_caught => FaMergesLists at Catch {
        file: "network/coverage-02.itf.json",
        step: 24,
        expected: r##"filters = "##,
        observed: r##"filters = {"#map":[[0,{"#map":[[0,{"#set":[0,1,4]}],[1,{"#set":[2,3]}]]}],[1,{"#map":[[0,{"#set":[0,1]}],[1,{"#set":[2,3]}]]}]]}"##,
    },
    seeded_bug_net_9_is_caught => IgnoresOutboundSetting at Catch {
        file: "network/coverage-04.itf.json",
        step: 9,
        expected: r##"Dropped { reason: OutboundNotAllowed }"##,
        observed: r##"Delivered { to: [Internet] }"##,
    },
    seeded_bug_net_10_is_caught => RemoteAccessOpen at Catch {
        file: "network/coverage-04.itf.json",
        step: 2,
        expected: r##"Dropped { reason: RemoteAccessDisabled }"##,
        observed: r##"Delivered { to: [Vm(0)] }"##,
    },
    seeded_bug_net_11_is_caught => EdgeForwardsToDips at Catch {
        file: "network/coverage-04.itf.json",
        step: 3,
        expected: r##"Dropped { reason: NotExposed }"##,
        observed: r##"Delivered { to: [Vm(0)] }"##,
    },
    seeded_bug_net_12_is_caught => MgmtAclOpen at Catch {
        file: "network/coverage-03.itf.json",
        step: 9,
        expected: r##"Dropped { reason: CorpAcl }"##,
        observed: r##"Delivered { to: [Mgmt] }"##,
    },
    seeded_bug_net_13_is_caught => EdgeRoutesToDevices at Catch {
        file: "network/coverage-03.itf.json",
        step: 10,
        expected: r##"Dropped { reason: VlanPolicy }"##,
        observed: r##"Dropped { reason: ConntrackFull }"##,
    },
    seeded_bug_net_14_is_caught => FaAcceptsAnyClient at Catch {
        file: "network/coverage-01.itf.json",
        step: 4,
        expected: r##"Refused { reason: UnauthenticatedPeer }"##,
        observed: r##"Accepted"##,
    },
    seeded_bug_net_15_is_caught => FcTrustsResponseHost at Catch {
        file: "network/coverage-03.itf.json",
        step: 19,
        expected: r##"Refused { reason: UntrustedResponse }"##,
        observed: r##"Applied"##,
    },
    seeded_bug_sto_1_is_caught => SignatureNotVerified at Catch {
        file: "storage/coverage-01.itf.json",
        step: 18,
        expected: r##"Denied { reason: AuthenticationFailed }"##,
        observed: r##"Denied { reason: LeaseIdMissing }"##,
    },
    seeded_bug_sto_2_is_caught => RemovedKeyStillAccepted at Catch {
        file: "storage/coverage-01.itf.json",
        step: 17,
        expected: r##"keys = "##,
        observed: r##"keys = {"#map":[["primary",1],["secondary",{"unmapped":"a secondary key this replay never saw"}]]}"##,
    },
    seeded_bug_sto_3_is_caught => SasExpiryIgnored at Catch {
        file: "storage/coverage-09.itf.json",
        step: 3,
        expected: r##"Denied { reason: AuthenticationFailed }"##,
        observed: r##"Denied { reason: AuthorizationPermissionMismatch }"##,
    },
    seeded_bug_sto_4_is_caught => PolicyChangeNotApplied at Catch {
        file: "storage/coverage-03.itf.json",
        step: 8,
        expected: r##"Denied { reason: AuthenticationFailed }"##,
        observed: r##"Denied { reason: BlobNotFound }"##,
    },
    seeded_bug_sto_5_is_caught => AnonymousWriteOnPublic at Catch {
        file: "storage/coverage-04.itf.json",
        step: 2,
        expected: r##"Denied { reason: NoAuthenticationInformation }"##,
        observed: r##"Denied { reason: LeaseIdMissing }"##,
    },
    seeded_bug_sto_6_is_caught => DeleteOnPrimaryOnly at Catch {
        file: "storage/coverage-11.itf.json",
        step: 18,
        expected: r##"replicas = "##,
        observed: r##"replicas = {"#map":[[0,{"blobs":{"#map":[]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[1,{"blobs":{"#map":[[0,{"version":1}]]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[2,{"blobs":{"#map":[[0,{"version":1}]]},"location":"Chosen","snapshots":{"#map":[]},"up":true}]]}"##,
    },
    seeded_bug_sto_7_is_caught => PutOnPrimaryOnly at Catch {
        file: "storage/coverage-11.itf.json",
        step: 13,
        expected: r##"replicas = "##,
        observed: r##"replicas = {"#map":[[0,{"blobs":{"#map":[[0,{"version":1}]]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[1,{"blobs":{"#map":[]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[2,{"blobs":{"#map":[]},"location":"Chosen","snapshots":{"#map":[]},"up":true}]]}"##,
    },
    seeded_bug_sto_8_is_caught => KeyChangeWithoutSubscription at Catch {
        file: "storage/coverage-01.itf.json",
        step: 16,
        expected: r##"Denied { reason: ForbiddenError }"##,
        observed: r##"KeyRegenerated { slot: Primary, version: 1 }"##,
    },
    seeded_bug_sto_9_is_caught => OldBytesReused at Catch {
        file: "storage/coverage-19.itf.json",
        step: 16,
        expected: r##"Blob { version: 2, bytes: 0 }"##,
        observed: r##"Blob { version: 2, bytes: 1 }"##,
    },
    seeded_bug_geo_1_is_caught => ReplicaInOtherLocation at Catch {
        file: "storage/coverage-01.itf.json",
        step: 0,
        expected: r##"replicas = "##,
        observed: r##"replicas = {"#map":[[0,{"blobs":{"#map":[[0,{"version":1}],[1,{"version":2}]]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[1,{"blobs":{"#map":[[0,{"version":1}],[1,{"version":2}]]},"location":"Chosen","snapshots":{"#map":[]},"up":true}],[2,{"blobs":{"#map":[[0,{"version":1}],[1,{"version":2}]]},"location":"Other","snapshots":{"#map":[]},"up":true}]]}"##,
    },
    seeded_bug_drv_1_is_caught => LeaseNotCheckedOnWrite at Catch {
        file: "storage/coverage-16.itf.json",
        step: 7,
        expected: r##"Denied { reason: LeaseIdMissing }"##,
        observed: r##"Accepted"##,
    },
}
