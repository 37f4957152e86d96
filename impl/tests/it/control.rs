//! The control plane over real sockets: mutual TLS between FC, FA, SMAPI and
//! admin (NET-14), and the FC's distrust of FA answers (NET-15).

use fabric_impl::bugs::BugSet;
use fabric_impl::control::service::{self, ServerLimits};
use fabric_impl::control::tls::{client_config, server_config, RefusalLog, ServerPolicy};
use fabric_impl::control::wire::{
    self, read_frame, AgentRequest, AgentResponse, WireError, MAX_FRAME_BYTES,
};
use fabric_impl::control::{
    ClientPolicy, ControlCaller, ControlError, Controller, Endpoint, FabricConfig, FabricPki,
    HostileReply, RunningFabric,
};
use fabric_impl::net::{Denied, HostFilters, InstanceLists, SharedFilters, Topology};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const HOSTS: u8 = 2;

fn filters() -> Vec<SharedFilters> {
    (0..HOSTS)
        .map(|_| Arc::new(Mutex::new(HostFilters::default())))
        .collect()
}

fn config(bugs: BugSet) -> FabricConfig {
    let mut config = FabricConfig::new(Topology::example(1, HOSTS, 2, 1));
    config.bugs = bugs;
    config.timeout_ms = 5_000;
    config
}

async fn start() -> (RunningFabric, Vec<SharedFilters>) {
    let filters = filters();
    let fabric = RunningFabric::start(config(BugSet::NONE), filters.clone())
        .await
        .expect("fabric starts");
    (fabric, filters)
}

fn lists(version: u64, ips: &[Ipv4Addr]) -> InstanceLists {
    InstanceLists {
        version,
        apps: BTreeMap::from([(0, ips.iter().copied().collect::<BTreeSet<_>>())]),
    }
}

fn snapshot(filters: &SharedFilters) -> HostFilters {
    filters.lock().expect("filters not poisoned").clone()
}

#[tokio::test]
async fn fc_push_over_mutual_tls_reprograms_the_host() {
    let (fabric, filters) = start().await;
    let a = Ipv4Addr::new(192, 0, 2, 100);
    let b = Ipv4Addr::new(192, 0, 2, 101);
    assert_eq!(
        fabric
            .deliver_push(0, &lists(1, &[a, b]))
            .await
            .expect("push 1"),
        AgentResponse::Applied {
            host: 0,
            version: 1
        }
    );
    let host0 = snapshot(&filters[0]);
    assert_eq!(host0.version, 1);
    assert!(host0.allows(0, a) && host0.allows(0, b));
    // Only the host pushed to changed.
    assert_eq!(snapshot(&filters[1]), HostFilters::default());
    // A move: the old IP is gone after the next push (replace, not merge).
    assert_eq!(
        fabric
            .deliver_push(0, &lists(2, &[a]))
            .await
            .expect("push 2"),
        AgentResponse::Applied {
            host: 0,
            version: 2
        }
    );
    let host0 = snapshot(&filters[0]);
    assert!(host0.allows(0, a) && !host0.allows(0, b));
    assert!(fabric.refusals(Endpoint::Fa(0)).is_empty());
    assert!(matches!(
        fabric.deliver_push(HOSTS, &lists(3, &[a])).await,
        Err(ControlError::NoSuchHost(HOSTS))
    ));
    fabric.shutdown().await;
}

#[tokio::test]
async fn legitimate_principals_are_accepted() {
    let (fabric, _) = start().await;
    for host in 0..HOSTS {
        fabric
            .send_control(ControlCaller::Fc, Endpoint::Fa(host))
            .await
            .expect("FC reaches every FA");
    }
    fabric
        .send_control(ControlCaller::Smapi, Endpoint::FcSmapi)
        .await
        .expect("SMAPI reaches the FC's SMAPI endpoint");
    fabric
        .send_control(ControlCaller::Admin, Endpoint::FcAdmin)
        .await
        .expect("admin reaches the FC's admin endpoint");
    for e in [
        Endpoint::Fa(0),
        Endpoint::Fa(1),
        Endpoint::FcSmapi,
        Endpoint::FcAdmin,
    ] {
        assert!(fabric.refusals(e).is_empty(), "{e:?} refused someone");
    }
    fabric.shutdown().await;
}

#[tokio::test]
async fn fa_refuses_clients_not_chained_to_the_root() {
    let (fabric, filters) = start().await;
    for who in [
        ControlCaller::Rogue,
        ControlCaller::Smapi,
        ControlCaller::Admin,
    ] {
        let result = fabric.send_control(who, Endpoint::Fa(0)).await;
        assert!(
            matches!(
                result,
                Err(ControlError::Refused(Denied::UnauthenticatedPeer))
            ),
            "{who:?}: {result:?}"
        );
    }
    let refused = fabric.refusals(Endpoint::Fa(0));
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0].fingerprint, fabric.pki().rogue().fingerprint());
    assert!(refused
        .iter()
        .all(|r| r.reason == Denied::UnauthenticatedPeer));
    // The refused connections changed nothing, and the FC still gets through.
    assert_eq!(snapshot(&filters[0]), HostFilters::default());
    fabric
        .send_control(ControlCaller::Fc, Endpoint::Fa(0))
        .await
        .expect("FC still accepted");
    fabric.shutdown().await;
}

#[tokio::test]
async fn fc_endpoints_accept_only_their_pinned_certificate() {
    let (fabric, _) = start().await;
    let cases = [
        (ControlCaller::Smapi, Endpoint::FcAdmin),
        (ControlCaller::Admin, Endpoint::FcSmapi),
        (ControlCaller::Rogue, Endpoint::FcSmapi),
        (ControlCaller::Rogue, Endpoint::FcAdmin),
        (ControlCaller::Fc, Endpoint::FcSmapi),
    ];
    for (who, endpoint) in cases {
        let result = fabric.send_control(who, endpoint).await;
        assert!(
            matches!(
                result,
                Err(ControlError::Refused(Denied::UnpinnedFingerprint))
            ),
            "{who:?} to {endpoint:?}: {result:?}"
        );
    }
    assert_eq!(fabric.refusals(Endpoint::FcSmapi).len(), 3);
    assert_eq!(fabric.refusals(Endpoint::FcAdmin).len(), 2);
    fabric.shutdown().await;
}

#[tokio::test]
async fn fc_refuses_an_fa_that_is_not_the_pinned_one() {
    let (fabric, filters) = start().await;
    let pki = fabric.pki();
    let addr0 = fabric.addr(Endpoint::Fa(0)).expect("fa 0");
    let wrong = pki.fa(1).expect("fa 1").fingerprint();
    let result = service::deliver_push(addr0, &wrong, pki.fc(), &lists(1, &[]), 2_000).await;
    assert!(
        matches!(
            result,
            Err(ControlError::ServerNotTrusted(Denied::UnpinnedFingerprint))
        ),
        "{result:?}"
    );
    assert_eq!(snapshot(&filters[0]), HostFilters::default());
    fabric.shutdown().await;
}

#[tokio::test]
async fn endpoints_and_fingerprints_are_listed() {
    let (fabric, _) = start().await;
    let endpoints = fabric.endpoints();
    assert_eq!(endpoints.len(), usize::from(HOSTS) + 2);
    assert!(endpoints
        .iter()
        .all(|(_, a)| a.ip().is_loopback() && a.port() != 0));
    let fingerprints = fabric.fingerprints();
    let distinct: BTreeSet<_> = fingerprints.iter().map(|(_, f)| *f).collect();
    assert_eq!(distinct.len(), fingerprints.len());
    let addr = fabric.addr(Endpoint::FcSmapi).expect("smapi endpoint");
    // Callers may spawn these calls onto a multi-threaded runtime.
    fn spawnable<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    spawnable(fabric.send_control(ControlCaller::Fc, Endpoint::Fa(0)))
        .await
        .expect("FC reaches the FA");
    spawnable(fabric.deliver_push(1, &lists(1, &[])))
        .await
        .expect("push");
    fabric.shutdown().await;
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn start_rejects_a_filter_count_mismatch() {
    let result = RunningFabric::start(config(BugSet::NONE), vec![]).await;
    assert!(matches!(result, Err(ControlError::Config(_))), "{result:?}");
}

/// What a fake FA does after reading the FC's request.
enum Hostile {
    /// Writes these bytes, then closes cleanly.
    Bytes(Vec<u8>),
    /// Says nothing and keeps the connection open.
    Silence,
}

/// A fake FA with a genuine pinned certificate of `pki` that answers one
/// connection with `behaviour`.
async fn fake_fa(pki: &FabricPki, behaviour: Hostile) -> (SocketAddr, JoinHandle<()>) {
    let policy = ClientPolicy::ChainedToRoot {
        root: pki.root().clone(),
    };
    let fa = pki.fa(0).expect("fa 0");
    let config = server_config(fa, policy, BugSet::NONE, Arc::new(RefusalLog::default()))
        .expect("server config");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut tls = TlsAcceptor::from(config)
            .accept(tcp)
            .await
            .expect("handshake");
        let _request: AgentRequest = read_frame(&mut tls).await.expect("request");
        match behaviour {
            Hostile::Bytes(bytes) => {
                tls.write_all(&bytes).await.expect("write");
                tls.shutdown().await.expect("shutdown");
            }
            Hostile::Silence => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    });
    (addr, task)
}

async fn push_to_fake(
    behaviour: Hostile,
    timeout_ms: u64,
    pushed: &InstanceLists,
) -> Result<AgentResponse, ControlError> {
    let pki = FabricPki::generate(1).expect("pki");
    let (addr, task) = fake_fa(&pki, behaviour).await;
    let fingerprint = pki.fa(0).expect("fa 0").fingerprint();
    let result = service::deliver_push(addr, &fingerprint, pki.fc(), pushed, timeout_ms).await;
    task.abort();
    result
}

/// The FC after moving an instance, with the push it took for host 0.
fn fc_with_push_for_host_0() -> (Controller, InstanceLists) {
    let mut fc = Controller::new(config(BugSet::NONE).topology);
    fc.move_instance(1, 0).expect("spare DIP");
    let push = fc.take_push(0).expect("push owed to host 0");
    (fc, push)
}

fn frame_of(response: &AgentResponse) -> Vec<u8> {
    wire::encode(response).expect("encode")
}

#[tokio::test]
async fn fc_survives_hostile_fa_responses() {
    let (mut fc, push) = fc_with_push_for_host_0();
    let v = push.version;

    // Not JSON.
    let mut garbage = 8u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"\xff\x00garbage");
    let r = push_to_fake(Hostile::Bytes(garbage[..12].to_vec()), 2_000, &push).await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::Malformed(_)))),
        "{r:?}"
    );

    // A length far beyond the maximum: refused before allocation.
    let r = push_to_fake(
        Hostile::Bytes(vec![0xff, 0xff, 0xff, 0xf0, b'{']),
        2_000,
        &push,
    )
    .await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::TooLarge { .. }))),
        "{r:?}"
    );

    // A frame that ends early.
    let mut cut = 100u32.to_be_bytes().to_vec();
    cut.extend_from_slice(b"{\"Pong");
    let r = push_to_fake(Hostile::Bytes(cut), 2_000, &push).await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::Truncated { .. }))),
        "{r:?}"
    );

    // Nothing at all.
    let r = push_to_fake(Hostile::Bytes(vec![]), 2_000, &push).await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::Closed))),
        "{r:?}"
    );

    // JSON nested deeper than any parser's stack should go.
    let deep = "[".repeat(100_000);
    let mut nested = (deep.len() as u32).to_be_bytes().to_vec();
    nested.extend_from_slice(deep.as_bytes());
    let r = push_to_fake(Hostile::Bytes(nested), 2_000, &push).await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::Malformed(_)))),
        "{r:?}"
    );

    // Well-formed lies: the client hands them over as decoded, and the FC's
    // decision refuses them without changing its state.
    for lie in [
        AgentResponse::Applied {
            host: 0,
            version: v + 1,
        },
        AgentResponse::Applied {
            host: 0,
            version: v - 1,
        },
        AgentResponse::Applied {
            host: 1,
            version: v,
        },
        AgentResponse::Pong,
        AgentResponse::Error {
            message: "\nERROR forged log line".repeat(1000),
        },
    ] {
        let r = push_to_fake(Hostile::Bytes(frame_of(&lie)), 2_000, &push).await;
        let decoded = r.expect("a well-formed frame decodes");
        assert_eq!(decoded, lie);
        let before = fc.clone();
        match fc.accept_push_response(0, &push, &decoded, BugSet::NONE) {
            Err(ControlError::UntrustedResponse(why)) => {
                assert!(
                    why.len() < 1_000,
                    "peer text is cut short: {} bytes",
                    why.len()
                );
                assert!(!why.contains('\n'), "peer text is quoted: {why}");
            }
            other => panic!("{lie:?}: {other:?}"),
        }
        assert_eq!(fc, before, "{lie:?} changed the FC");
    }

    // The honest answer, as a control: the fake is not broken.
    let honest = AgentResponse::Applied {
        host: 0,
        version: v,
    };
    let r = push_to_fake(Hostile::Bytes(frame_of(&honest)), 2_000, &push).await;
    assert_eq!(r.expect("honest answer"), honest);
    assert_eq!(
        fc.accept_push_response(0, &push, &honest, BugSet::NONE)
            .expect("acknowledged"),
        v
    );

    // Silence: the call is bounded.
    let started = std::time::Instant::now();
    let r = push_to_fake(Hostile::Silence, 300, &push).await;
    assert!(
        matches!(r, Err(ControlError::Timeout { timeout_ms: 300 })),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_compromised_fa_is_refused_over_real_tls() {
    let (fabric, filters) = start().await;
    let (mut fc, push) = fc_with_push_for_host_0();

    // Garbage: a typed error from the FC's own client code.
    let r = fabric
        .deliver_push_to_hostile_fa(0, &push, HostileReply::Garbage)
        .await;
    assert!(
        matches!(r, Err(ControlError::Wire(WireError::Malformed(_)))),
        "{r:?}"
    );

    // Host 0's FA acknowledges for host 1: decoded as sent...
    let answer = fabric
        .deliver_push_to_hostile_fa(0, &push, HostileReply::AckForHost(1))
        .await
        .expect("the pin matches and the frame decodes");
    assert_eq!(
        answer,
        AgentResponse::Applied {
            host: 1,
            version: push.version
        }
    );
    // ...and refused by the FC, which stays as it was and still owes the push.
    let before = fc.clone();
    let quarantined: Vec<_> = fc.quarantined().collect();
    let pending: Vec<_> = fc.pending_hosts().collect();
    assert!(matches!(
        fc.accept_push_response(0, &push, &answer, BugSet::NONE),
        Err(ControlError::UntrustedResponse(_))
    ));
    assert_eq!(fc, before);
    assert_eq!(fc.quarantined().collect::<Vec<_>>(), quarantined);
    assert_eq!(fc.pending_hosts().collect::<Vec<_>>(), pending);
    fc.requeue_push(0, push);

    // The real FAs saw none of it.
    for f in &filters {
        assert_eq!(snapshot(f), HostFilters::default());
    }
    assert!(fabric.refusals(Endpoint::Fa(0)).is_empty());
    assert!(matches!(
        fabric
            .deliver_push_to_hostile_fa(HOSTS, &lists(1, &[]), HostileReply::Garbage)
            .await,
        Err(ControlError::NoSuchHost(HOSTS))
    ));

    // The honest round trip: each real FA's answer is acknowledged, and the
    // freed DIP is released once both have applied the lists.
    for host in 0..HOSTS {
        assert_eq!(fc.quarantined().count(), 1);
        let push = fc.take_push(host).expect("push owed");
        let answer = fabric.deliver_push(host, &push).await.expect("delivered");
        assert_eq!(
            fc.accept_push_response(host, &push, &answer, BugSet::NONE)
                .expect("acknowledged"),
            push.version
        );
        assert_eq!(snapshot(&filters[usize::from(host)]).version, push.version);
    }
    assert_eq!(fc.quarantined().count(), 0);
    assert_eq!(fc.pending_hosts().count(), 0);
    fabric.shutdown().await;
}

#[cfg(feature = "seeded-bugs")]
#[tokio::test]
async fn seeded_bug_believes_a_compromised_fa_about_another_host() {
    use fabric_impl::bugs::SeededBug;
    let bugs = BugSet::only(SeededBug::FcTrustsResponseHost);
    let fabric = RunningFabric::start(config(bugs), filters())
        .await
        .expect("fabric starts");
    let (mut fc, push) = fc_with_push_for_host_0();
    let answer = fabric
        .deliver_push_to_hostile_fa(0, &push, HostileReply::AckForHost(1))
        .await
        .expect("decoded");
    assert_eq!(
        fc.accept_push_response(0, &push, &answer, bugs)
            .expect("the bug believes it"),
        push.version
    );
    // Host 0's real answer now releases the freed DIP, though host 1's FA
    // never applied the lists that drop it.
    let answer = fabric.deliver_push(0, &push).await.expect("delivered");
    fc.accept_push_response(0, &push, &answer, bugs)
        .expect("acknowledged");
    assert_eq!(fc.quarantined().count(), 0);
    assert_eq!(fc.pending_hosts().collect::<Vec<_>>(), vec![1]);
    fabric.shutdown().await;
}

#[tokio::test]
async fn fa_survives_a_malformed_request_from_the_fc() {
    let (fabric, filters) = start().await;
    let pki = fabric.pki();
    let addr = fabric.addr(Endpoint::Fa(0)).expect("fa 0");
    let fa = pki.fa(0).expect("fa 0").fingerprint();
    let (config, _) = client_config(pki.fc(), ServerPolicy::Pinned(fa)).expect("client config");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(service::FA_SERVER_NAME).expect("name");
    let mut tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let mut frame = 3u32.to_be_bytes().to_vec();
    frame.extend_from_slice(b"{{{");
    tls.write_all(&frame).await.expect("write");
    let answer: AgentResponse = read_frame(&mut tls).await.expect("an answer");
    assert!(matches!(answer, AgentResponse::Error { .. }), "{answer:?}");
    // The FA closes that connection...
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
    // ...and keeps serving.
    assert_eq!(
        fabric.deliver_push(0, &lists(1, &[])).await.expect("push"),
        AgentResponse::Applied {
            host: 0,
            version: 1
        }
    );
    assert_eq!(snapshot(&filters[0]).version, 1);
    fabric.shutdown().await;
}

#[tokio::test]
async fn fa_closes_a_silent_connection() {
    let filters = filters();
    let mut config = config(BugSet::NONE);
    config.limits = ServerLimits {
        handshake_timeout_ms: 200,
        idle_timeout_ms: 200,
        max_connections: 4,
    };
    let fabric = RunningFabric::start(config, filters)
        .await
        .expect("fabric starts");
    let addr = fabric.addr(Endpoint::Fa(0)).expect("fa 0");
    // A client that never starts the handshake is dropped after the handshake timeout.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    fabric.shutdown().await;
}

#[test]
fn wire_rejects_truncated_and_oversized_input() {
    let frame = wire::encode(&AgentRequest::Ping).expect("encode");
    assert!(matches!(
        wire::decode::<AgentRequest>(&frame[..frame.len() - 1]),
        Err(WireError::Truncated { .. })
    ));
    assert!(matches!(
        wire::decode::<AgentRequest>(&[0, 0]),
        Err(WireError::Truncated { .. })
    ));
    let too_long = u32::try_from(MAX_FRAME_BYTES + 1)
        .expect("fits")
        .to_be_bytes();
    assert!(matches!(
        wire::decode::<AgentRequest>(&too_long),
        Err(WireError::TooLarge { .. })
    ));
    assert_eq!(
        wire::decode::<AgentRequest>(&frame).expect("whole frame"),
        AgentRequest::Ping
    );
}

#[cfg(feature = "seeded-bugs")]
#[tokio::test]
async fn seeded_bug_lets_any_client_into_the_fa() {
    use fabric_impl::bugs::SeededBug;
    let filters = filters();
    let bugs = BugSet::only(SeededBug::FaAcceptsAnyClient);
    let fabric = RunningFabric::start(config(bugs), filters)
        .await
        .expect("fabric starts");
    fabric
        .send_control(ControlCaller::Rogue, Endpoint::Fa(0))
        .await
        .expect("the bug lets the rogue in");
    assert!(fabric.refusals(Endpoint::Fa(0)).is_empty());
    // The pinned endpoints are not the FA: unaffected.
    assert!(matches!(
        fabric
            .send_control(ControlCaller::Rogue, Endpoint::FcSmapi)
            .await,
        Err(ControlError::Refused(Denied::UnpinnedFingerprint))
    ));
    fabric.shutdown().await;
}

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime: every server task logs on this thread, under the
// subscriber set below.
#[tokio::test(flavor = "current_thread")]
async fn a_refusal_is_logged_with_the_fingerprint() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (fabric, _) = start().await;
    let result = fabric
        .send_control(ControlCaller::Rogue, Endpoint::Fa(1))
        .await;
    assert!(
        matches!(
            result,
            Err(ControlError::Refused(Denied::UnauthenticatedPeer))
        ),
        "{result:?}"
    );
    let rogue = fabric.pki().rogue();
    let logs =
        String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8 logs");
    assert!(logs.contains("refused client certificate"), "{logs}");
    assert!(logs.contains(&rogue.fingerprint().to_string()), "{logs}");
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
    // What a credential prints is safe to log.
    assert!(format!("{rogue:?}").contains("[REDACTED]"));
    fabric.shutdown().await;
}
