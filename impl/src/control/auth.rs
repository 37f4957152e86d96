//! Who may talk to whom on the control plane, as pure functions.
//!
//! The TLS verifiers (`tls`) only call these; the clock comes in as
//! an argument, so the same decisions can be replayed in process.

use super::identity::Identity;
use super::pki::Fingerprint;
use crate::bugs::{BugSet, SeededBug};
use crate::net::Denied;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// How a server decides which client certificates it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPolicy {
    /// Only certificates that chain to this root (the FC's); used by every FA.
    ChainedToRoot {
        /// The fabric root certificate.
        root: CertificateDer<'static>,
    },
    /// Only these self-signed certificates, by fingerprint; used by the FC's
    /// SMAPI-facing and admin-facing endpoints.
    Pinned {
        /// The accepted fingerprints and who each one is.
        fingerprints: BTreeMap<Fingerprint, Identity>,
    },
}

/// The ring crypto provider, built once and shared. It is never installed as
/// the process default: installing twice panics, and other code in the
/// process may have installed its own.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn root_store(root: &CertificateDer<'static>) -> Option<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).ok()?;
    Some(Arc::new(roots))
}

/// Decides whether a server accepts the client certificate `end_entity`
/// (with the `intermediates` the client sent) at time `now`, and who the
/// client is.
///
/// Signature checks on the handshake itself are TLS's business; this decides
/// only on the certificates.
pub fn authenticate_client(
    policy: &ClientPolicy,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    bugs: BugSet,
) -> Result<Identity, Denied> {
    match policy {
        ClientPolicy::ChainedToRoot { root } => {
            if bugs.has(SeededBug::FaAcceptsAnyClient) {
                return Ok(Identity::Fc);
            }
            // claim: NET-14 (an FA accepts only a client whose certificate chains to the fabric root)
            let verifier = root_store(root)
                .and_then(|roots| {
                    WebPkiClientVerifier::builder_with_provider(roots, provider())
                        .build()
                        .ok()
                })
                .ok_or(Denied::UnauthenticatedPeer)?;
            match verifier.verify_client_cert(end_entity, intermediates, now) {
                // Only the FC holds a certificate under the fabric root.
                Ok(_) => Ok(Identity::Fc),
                Err(e) => {
                    tracing::debug!(error = %e, "client certificate does not chain to the fabric root");
                    Err(Denied::UnauthenticatedPeer)
                }
            }
        }
        ClientPolicy::Pinned { fingerprints } => {
            // claim: NET-14 (SMAPI and admin certificates are accepted only by pinned fingerprint)
            fingerprints
                .get(&Fingerprint::of(end_entity))
                .copied()
                .ok_or(Denied::UnpinnedFingerprint)
        }
    }
}

/// Decides whether the FC accepts the server certificate of the FA it
/// dialled: only the one pinned for that host.
pub fn authenticate_server(
    pinned: &Fingerprint,
    end_entity: &CertificateDer<'_>,
) -> Result<(), Denied> {
    // claim: NET-14 (the FC talks only to the FA whose fingerprint it pinned)
    // mutants: `Ok(())` here survives the conformance suite: no model action
    // has the FC dial an impostor FA, so no trace shows a server refused.
    if Fingerprint::of(end_entity) == *pinned {
        Ok(())
    } else {
        Err(Denied::UnpinnedFingerprint)
    }
}

/// Decides whether a client of the FC (SMAPI, admin) accepts the server
/// certificate it was shown: it must chain to the fabric root and name
/// `server_name`.
pub fn authenticate_fc_server(
    root: &CertificateDer<'static>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), Denied> {
    // claim: NET-14 (FC certificates chain to the trusted fabric root)
    // mutants: `Ok(())` here survives the conformance suite: no model action
    // has SMAPI or an administrator reach an impostor FC.
    let verifier = root_store(root)
        .and_then(|roots| {
            WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .ok()
        })
        .ok_or(Denied::UnauthenticatedPeer)?;
    match verifier.verify_server_cert(end_entity, intermediates, server_name, &[], now) {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %e, "server certificate does not chain to the fabric root");
            Err(Denied::UnauthenticatedPeer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::pki::{FabricPki, FC_SERVER_NAME};
    use std::time::Duration;

    /// 2027-01-15: inside every generated certificate's validity.
    fn now() -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000))
    }

    fn chained(pki: &FabricPki) -> ClientPolicy {
        ClientPolicy::ChainedToRoot {
            root: pki.root().clone(),
        }
    }

    fn pinned(pki: &FabricPki) -> ClientPolicy {
        ClientPolicy::Pinned {
            fingerprints: [(pki.smapi().fingerprint(), Identity::Smapi)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn chained_policy_accepts_only_the_fc() {
        let pki = FabricPki::generate(1).expect("pki");
        let other = FabricPki::generate(1).expect("pki");
        let policy = chained(&pki);
        let fc = pki.fc();
        assert_eq!(
            authenticate_client(
                &policy,
                fc.end_entity(),
                &fc.chain()[1..],
                now(),
                BugSet::NONE
            ),
            Ok(Identity::Fc)
        );
        // Without the intermediates the FC's certificate still chains (it is issued by the root directly).
        assert_eq!(
            authenticate_client(&policy, fc.end_entity(), &[], now(), BugSet::NONE),
            Ok(Identity::Fc)
        );
        for c in [pki.rogue(), pki.smapi(), pki.admin(), &pki.fas()[0]] {
            assert_eq!(
                authenticate_client(&policy, c.end_entity(), &[], now(), BugSet::NONE),
                Err(Denied::UnauthenticatedPeer)
            );
        }
        // An FC certificate of another fabric, even sent with its own root as intermediate.
        let foreign = other.fc();
        assert_eq!(
            authenticate_client(
                &policy,
                foreign.end_entity(),
                foreign.chain(),
                now(),
                BugSet::NONE
            ),
            Err(Denied::UnauthenticatedPeer)
        );
        // The root itself is not a client certificate.
        assert_eq!(
            authenticate_client(&policy, pki.root(), &[], now(), BugSet::NONE),
            Err(Denied::UnauthenticatedPeer)
        );
        // Garbage bytes.
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01]);
        assert_eq!(
            authenticate_client(&policy, &junk, &[], now(), BugSet::NONE),
            Err(Denied::UnauthenticatedPeer)
        );
    }

    #[test]
    fn the_clock_is_an_input() {
        let pki = FabricPki::generate(1).expect("pki");
        // 1970: before the certificates' validity (they start in 1975).
        let epoch = UnixTime::since_unix_epoch(Duration::from_secs(0));
        assert_eq!(
            authenticate_client(
                &chained(&pki),
                pki.fc().end_entity(),
                &[],
                epoch,
                BugSet::NONE
            ),
            Err(Denied::UnauthenticatedPeer)
        );
    }

    #[test]
    fn pinned_policy_accepts_only_pinned_fingerprints() {
        let pki = FabricPki::generate(1).expect("pki");
        let policy = pinned(&pki);
        assert_eq!(
            authenticate_client(&policy, pki.smapi().end_entity(), &[], now(), BugSet::NONE),
            Ok(Identity::Smapi)
        );
        for c in [pki.rogue(), pki.admin(), pki.fc()] {
            assert_eq!(
                authenticate_client(&policy, c.end_entity(), &[], now(), BugSet::NONE),
                Err(Denied::UnpinnedFingerprint)
            );
        }
    }

    #[test]
    fn server_checks() {
        let pki = FabricPki::generate(2).expect("pki");
        let fa0 = pki.fa(0).expect("fa 0");
        let fa1 = pki.fa(1).expect("fa 1");
        assert_eq!(
            authenticate_server(&fa0.fingerprint(), fa0.end_entity()),
            Ok(())
        );
        assert_eq!(
            authenticate_server(&fa0.fingerprint(), fa1.end_entity()),
            Err(Denied::UnpinnedFingerprint)
        );
        let name = ServerName::try_from(FC_SERVER_NAME).expect("valid name");
        let fc = pki.fc();
        assert_eq!(
            authenticate_fc_server(pki.root(), fc.end_entity(), &[], &name, now()),
            Ok(())
        );
        let wrong = ServerName::try_from("other.fabric.internal").expect("valid name");
        assert_eq!(
            authenticate_fc_server(pki.root(), fc.end_entity(), &[], &wrong, now()),
            Err(Denied::UnauthenticatedPeer)
        );
        assert_eq!(
            authenticate_fc_server(pki.root(), pki.rogue().end_entity(), &[], &name, now()),
            Err(Denied::UnauthenticatedPeer)
        );
    }

    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn seeded_bug_accepts_any_client() {
        let pki = FabricPki::generate(1).expect("pki");
        let bugs = BugSet::only(SeededBug::FaAcceptsAnyClient);
        assert_eq!(
            authenticate_client(&chained(&pki), pki.rogue().end_entity(), &[], now(), bugs),
            Ok(Identity::Fc)
        );
        // The bug is the FA's: pinned endpoints are unaffected.
        assert_eq!(
            authenticate_client(&pinned(&pki), pki.rogue().end_entity(), &[], now(), bugs),
            Err(Denied::UnpinnedFingerprint)
        );
    }
}
