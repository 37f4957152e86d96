//! The harness can fail: with each seeded implementation bug switched on,
//! replaying the coverage traces and random walks stops at a step that
//! touches the claim the bug breaks.

use crate::root;
use fabric_conformance::areas::replay_file;
use fabric_conformance::replay::Transport;
use fabric_conformance::replay::{collect_trace_files, Verdict};
use fabric_impl::bugs::{BugSet, SeededBug};

/// The claims a flaw's counterexample file breaks, by its name.
fn flaw_claims(name: &str) -> Vec<String> {
    let flaw = name
        .trim_start_matches("flaw-")
        .trim_end_matches(".itf.json");
    fabric_conformance::areas::AREAS
        .iter()
        .flat_map(|a| a.flaws())
        .find(|f| f.name == flaw)
        .map(|f| f.breaks)
        .unwrap_or_default()
}

/// Replays the area's traces with `bug` on until one catches it: a
/// coverage trace or walk that departs at a step touching the bug's claim,
/// or a flaw's counterexample for that claim that the implementation no
/// longer stops (the bug removed the mechanism the flaw removes).
fn caught(bug: SeededBug) {
    let area = if bug.claim().starts_with("NET-") {
        "traces/network"
    } else {
        "traces/storage"
    };
    let files = collect_trace_files(&[root().join(area)]).expect("traces folder");
    let mut first = None;
    for path in files {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let report = replay_file(&path, Transport::Inproc, BugSet::only(bug)).expect("replays");
        let claims = match report.verdict {
            Verdict::Mismatch(m) => (m.step, m.claims),
            Verdict::NotStopped { expected_step, .. } => (expected_step, flaw_claims(&name)),
            _ => continue,
        };
        first = Some((name, claims));
        if first
            .as_ref()
            .is_some_and(|(_, (_, claims))| claims.iter().any(|c| c == bug.claim()))
        {
            break;
        }
    }
    let (name, (step, claims)) = first.unwrap_or_else(|| panic!("{bug:?} was never caught"));
    assert!(
        claims.iter().any(|c| c == bug.claim()),
        "{bug:?} was caught last in {name} at step {step}, which touches {claims:?}, not {}",
        bug.claim()
    );
}

macro_rules! seeded_bug_tests {
    ($($name:ident => $bug:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                caught(SeededBug::$bug);
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
    seeded_bug_net_1_is_caught => RouterAdmitsMainToFc,
    seeded_bug_net_2_is_caught => RouterAdmitsMainToDevice,
    seeded_bug_net_3_is_caught => RouterHostPinhole,
    seeded_bug_net_4_is_caught => NoSourceCheck,
    seeded_bug_net_5_is_caught => SwitchFloods,
    seeded_bug_net_6_is_caught => NoInfrastructureFilter,
    seeded_bug_net_7_is_caught => BroadcastPasses,
    seeded_bug_net_8_is_caught => FaMergesLists,
    seeded_bug_net_9_is_caught => IgnoresOutboundSetting,
    seeded_bug_net_10_is_caught => RemoteAccessOpen,
    seeded_bug_net_11_is_caught => EdgeForwardsToDips,
    seeded_bug_net_12_is_caught => MgmtAclOpen,
    seeded_bug_net_13_is_caught => EdgeRoutesToDevices,
    seeded_bug_net_14_is_caught => FaAcceptsAnyClient,
    seeded_bug_net_15_is_caught => FcTrustsResponseHost,
    seeded_bug_sto_1_is_caught => SignatureNotVerified,
    seeded_bug_sto_2_is_caught => RemovedKeyStillAccepted,
    seeded_bug_sto_3_is_caught => SasExpiryIgnored,
    seeded_bug_sto_4_is_caught => PolicyChangeNotApplied,
    seeded_bug_sto_5_is_caught => AnonymousWriteOnPublic,
    seeded_bug_sto_6_is_caught => DeleteOnPrimaryOnly,
    seeded_bug_sto_7_is_caught => PutOnPrimaryOnly,
    seeded_bug_sto_8_is_caught => KeyChangeWithoutSubscription,
    seeded_bug_sto_9_is_caught => OldBytesReused,
    seeded_bug_geo_1_is_caught => ReplicaInOtherLocation,
    seeded_bug_drv_1_is_caught => LeaseNotCheckedOnWrite,
}
