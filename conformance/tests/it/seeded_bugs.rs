//! The harness can fail: with each seeded implementation bug switched on,
//! replaying the coverage traces and random walks stops at a step that
//! touches the claim the bug breaks.

use crate::root;
use fabric_conformance::cli::Transport;
use fabric_conformance::network::replay_network_file;
use fabric_conformance::replay::{collect_trace_files, Verdict};
use fabric_impl::bugs::{BugSet, SeededBug};

fn caught(bug: SeededBug) {
    let files = collect_trace_files(&[root().join("traces/network")]).expect("traces folder");
    let mut first = None;
    for path in files {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with("flaw-") {
            continue;
        }
        let report =
            replay_network_file(&path, Transport::Inproc, BugSet::only(bug)).expect("replays");
        if let Verdict::Mismatch(m) = report.verdict {
            first = Some((name, m));
            break;
        }
    }
    let (name, mismatch) = first.unwrap_or_else(|| panic!("{bug:?} was never caught"));
    assert!(
        mismatch.claims.iter().any(|c| c == bug.claim()),
        "{bug:?} was caught in {name} at step {}, which touches {:?}, not {}",
        mismatch.step,
        mismatch.claims,
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
            // Storage's seeded bugs are caught by the storage replay once its
            // adapter lands; the store's own two are caught by its unit tests.
            for bug in SeededBug::ALL.into_iter().filter(|b| b.claim().starts_with("NET-")) {
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
}
