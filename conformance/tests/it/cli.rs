//! The `fabric` command as a user runs it.

use crate::root;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fabric(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the fabric binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_proves_every_network_claim() {
    let out = fabric(&[
        "check",
        "--model",
        "network",
        "--format",
        "json",
        "--threads",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let props = reports[0]["properties"].as_array().expect("properties");
    assert_eq!(props.len(), 30);
    for n in 1..=15 {
        let id = format!("NET-{n}");
        let of_claim: Vec<_> = props.iter().filter(|p| p["claim"] == id.as_str()).collect();
        assert_eq!(of_claim.len(), 2, "{id}");
        assert!(
            of_claim.iter().all(|p| p["ok"] == true),
            "{id} does not hold: {of_claim:?}"
        );
    }
    assert!(reports[0]["unique_states"].as_u64().expect("count") > 10_000);
}

#[test]
fn every_listed_flaw_fails_the_check_with_a_short_counterexample() {
    let out = fabric(&["flaws", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let flaws: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let of_model = |m: &str| flaws.iter().filter(|f| f["model"] == m).count();
    assert_eq!((of_model("network"), of_model("storage")), (17, 12));
    for flaw in &flaws {
        let name = flaw["flaw"].as_str().expect("name");
        let model = flaw["model"].as_str().expect("model");
        let out = fabric(&[
            "check",
            "--model",
            model,
            "--flaw",
            name,
            "--format",
            "json",
            "--threads",
            "2",
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let cx = &report[0]["counterexample"];
        let steps = cx["steps"].as_array().expect("a counterexample");
        assert!(
            !steps.is_empty() && steps.len() <= 12,
            "{name}: {} steps",
            steps.len()
        );
        let named: Vec<&serde_json::Value> =
            flaw["breaks"].as_array().expect("breaks").iter().collect();
        for claim in cx["claims"].as_array().expect("claims") {
            assert!(
                named.contains(&claim),
                "{name} broke {claim}, which it does not name"
            );
        }
        let broken: Vec<&str> = report[0]["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .filter(|p| p["kind"] == "always" && p["ok"] == false)
            .filter_map(|p| p["claim"].as_str())
            .collect();
        let mut expected: Vec<&str> = named.iter().filter_map(|c| c.as_str()).collect();
        expected.sort();
        let mut got = broken.clone();
        got.sort();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn text_check_prints_a_table_and_the_counterexample() {
    let out = fabric(&["check", "--flaw", "fa-merges-lists", "--threads", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("NET-8   always     BROKEN"), "{text}");
    assert!(text.contains("shortest counterexample"), "{text}");
    assert!(text.contains("1. FC moves"), "{text}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = fabric(&["check", "--flaw", "no-such-flaw"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flaw \"no-such-flaw\""));
    // An unknown model or claim prefix names the ones the registry knows.
    let out = fabric(&["check", "--model", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'nosuch'"), "{stderr}");
    for area in fabric_conformance::areas::AREAS {
        assert!(stderr.contains(area.name()), "{stderr}");
    }
    let out = fabric(&["claims", "--area", "XYZ"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NET") && stderr.contains("AUD"), "{stderr}");
}

#[test]
fn help_is_everywhere() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["flaws", "--help"],
        vec!["explore", "--help"],
        vec!["traces", "generate", "--help"],
        vec!["replay", "--help"],
        vec!["claims", "--help"],
        vec!["up", "--help"],
        vec!["demo", "network", "--help"],
    ] {
        let out = fabric(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}");
    }
}

#[test]
fn replay_prints_steps_matched_per_claim() {
    let out = fabric(&["replay", "traces/network", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for n in 1..=15 {
        let id = format!("NET-{n}");
        let matched = summary["claims"][&id].as_u64().unwrap_or(0);
        assert!(matched > 0, "{id} never matched");
    }
}

#[test]
fn replay_of_a_truncated_file_names_file_and_position() {
    let dir = std::env::temp_dir().join(format!("fabric-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text =
        std::fs::read_to_string(root().join("traces/network/coverage-01.itf.json")).expect("trace");
    let bad = dir.join("cut.itf.json");
    std::fs::write(&bad, &text[..text.len() / 3]).expect("write");
    let out = fabric(&["replay", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        all.contains("cut.itf.json:") && all.contains("EOF"),
        "{all}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn claims_check_passes_for_the_network_area() {
    let out = fabric(&["claims", "--check", "--area", "NET"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" ok ")).count(),
        15,
        "{text}"
    );
    let out = fabric(&["claims", "--check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "other areas are pending, so the full check fails"
    );
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn explore_answers_in_a_browser() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(["explore", "--flaw", "fa-merges-lists", "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("explorer starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut page = None;
    while Instant::now() < deadline {
        if let Some(body) = http_get(&addr, "/") {
            page = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let states = http_get(&addr, "/.states");
    let _ = child.kill();
    let _ = child.wait();
    let page = page.expect("the explorer answered");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.to_lowercase().contains("<html"),
        "{page}"
    );
    let states = states.expect("states answered");
    assert!(states.contains("placement"), "{states}");
}

#[test]
fn up_starts_a_fabric_and_prints_its_topology() {
    let out = fabric(&["up", "--hosts", "2", "--apps", "2", "--for-secs", "1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for needle in [
        "FA on host 0",
        "FA on host 1",
        "127.0.0.1:",
        "app1-worker",
        "sha256",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn demo_network_shows_verdicts_with_reasons_and_claims() {
    let out = fabric(&["demo", "network"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for needle in [
        "allowed",
        "dropped",
        "NET-1",
        "NET-4",
        "NET-8",
        "NET-14",
        "VLAN policy forbids this direction",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("UNEXPECTED"), "{text}");
    // The compromised FA's line: the FC's rejection, tagged with the claims
    // the model gives the refusal it predicts there, not a hand-written tag.
    let hostile = text
        .lines()
        .find(|l| l.contains("a compromised FA on host 0"))
        .unwrap_or_else(|| panic!("no compromised-FA line in:\n{text}"));
    let model_tags = fabric_model::network::DropReason::UntrustedResponse
        .claims()
        .labels()
        .join(", ");
    assert!(
        hostile.contains(". dropped ")
            && hostile.contains("untrusted response rejected")
            && hostile.ends_with(&format!("[{model_tags}]")),
        "{hostile:?}"
    );
    // Every refusal names the claims it upholds: 24 steps, 14 of them
    // refused, each with a tag.
    let numbered: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(". allowed ") || l.contains(". dropped "))
        .collect();
    assert_eq!(numbered.len(), 24, "{text}");
    let dropped: Vec<&&str> = numbered
        .iter()
        .filter(|l| l.contains(". dropped "))
        .collect();
    assert_eq!(dropped.len(), 14, "{text}");
    for line in dropped {
        assert!(line.ends_with(']') && line.contains(" [NET-"), "{line:?}");
    }
    for line in text.lines() {
        // A refusal names its claims once; an allowed line names none.
        let ids: Vec<&str> = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("NET-"))
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "claims repeated in {line:?}");
        if line.contains(". allowed ") {
            assert!(ids.is_empty(), "an allowed line with claim tags: {line:?}");
        }
        // Words, not Rust debug values.
        assert!(!line.contains("VlanPolicy"), "{line:?}");
    }
}

#[test]
fn demo_network_fails_when_a_verdict_is_not_the_scripts() {
    use fabric_conformance::demo::{network_with, tour_topology};
    use fabric_impl::net::RuleSet;
    let mut rules = RuleSet::for_topology(&tour_topology(), 64);
    // Remote desktop open by default: the script expects it dropped.
    rules.remote_access_ports.clear();
    let mut out = Vec::new();
    let code = network_with(rules, &mut out).expect("the tour runs");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 1, "{text}");
    let unexpected: Vec<&str> = text.lines().filter(|l| l.contains("UNEXPECTED")).collect();
    assert_eq!(unexpected.len(), 1, "{text}");
    assert!(
        unexpected[0].contains("allowed  the Internet opens remote desktop"),
        "{text}"
    );
}

#[test]
fn the_demo_verdict_fails_when_a_step_is_not_the_scripts() {
    use fabric_conformance::demo::{verdict, Fate};
    use fabric_impl::net::Denied;
    let refused = Fate::Denied(Denied::RemoteAccessDisabled);
    let as_scripted = [
        (Fate::Allowed, Fate::Allowed),
        (refused, refused),
        (Fate::AnswerRejected, Fate::AnswerRejected),
    ];
    assert_eq!(verdict(&as_scripted), 0);
    // A refusal where an allow was expected, and the reverse; another
    // refusal than the one expected; a failure where the FC should have
    // judged an answer; no step at all.
    for (fate, expect) in [
        (refused, Fate::Allowed),
        (Fate::Allowed, refused),
        (Fate::Denied(Denied::VlanPolicy), refused),
        (Fate::Failed, Fate::AnswerRejected),
    ] {
        let mut steps = as_scripted.to_vec();
        steps.push((fate, expect));
        assert_eq!(verdict(&steps), 1, "{fate:?} where {expect:?} was expected");
    }
    assert_eq!(verdict(&[]), 1, "a tour that ran nothing passed");
    // Tags come from the decision: a denial's own, the model's for a
    // rejected answer, none for a failure.
    assert_eq!(refused.claims(), vec!["NET-10".to_string()]);
    assert_eq!(
        Fate::AnswerRejected.claims(),
        fabric_model::network::DropReason::UntrustedResponse
            .claims()
            .labels()
    );
    assert!(Fate::Failed.claims().is_empty() && Fate::Allowed.claims().is_empty());
}

/// Runs `fabric args` with standard output a pipe that is closed early:
/// at once, or (`read_first`) after its first line. Returns the exit code
/// and standard error.
fn with_stdout_closed_early(args: &[&str], read_first: bool) -> (Option<i32>, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fabric binary runs");
    let pipe = child.stdout.take().expect("stdout is piped");
    if read_first {
        let mut first = String::new();
        std::io::BufReader::new(pipe)
            .read_line(&mut first)
            .expect("a first line");
        assert!(!first.is_empty(), "{args:?} printed nothing");
    } else {
        drop(pipe);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("it ends");
    (status.code(), stderr)
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    for args in [
        vec!["claims"],
        vec!["flaws"],
        vec!["check", "--model", "network", "--threads", "2"],
    ] {
        for read_first in [false, true] {
            let (code, stderr) = with_stdout_closed_early(&args, read_first);
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            assert!(!stderr.contains("error"), "{args:?}: {stderr}");
            assert_eq!(code, Some(0), "{args:?}: {stderr}");
        }
    }
}
