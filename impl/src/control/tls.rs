//! rustls configurations whose certificate verifiers call the pure decisions
//! of [`super::auth`].
//!
//! Session resumption is off on both sides: a resumed TLS 1.3 session skips
//! certificate verification, and every connection must be decided afresh.

use super::auth::{
    authenticate_client, authenticate_fc_server, authenticate_server, provider, ClientPolicy,
};
use super::error::ControlError;
use super::pki::{Credential, Fingerprint};
use crate::bugs::BugSet;
use crate::net::Denied;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::NoServerSessionStorage;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// One client certificate a server refused, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The refused certificate's fingerprint.
    pub fingerprint: Fingerprint,
    /// Why it was refused.
    pub reason: Denied,
}

/// At most this many refusals are remembered per server; older ones are
/// forgotten, so a flood of rogue handshakes cannot exhaust memory.
pub const MAX_REFUSALS: usize = 1024;

/// A server's record of refused client certificates, so that whoever
/// started the connection can learn why the handshake failed.
///
/// The verifier records a refusal before rustls sends the alert that ends
/// the handshake, so a client that has seen its connection fail finds the
/// record already there.
#[derive(Debug, Default)]
pub struct RefusalLog {
    inner: Mutex<Entries>,
    changed: Notify,
}

/// The retained refusals, each with its sequence number.
#[derive(Debug, Default)]
struct Entries {
    next_seq: u64,
    recent: VecDeque<(u64, Refusal)>,
}

impl RefusalLog {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock cannot leave the queue half-pushed.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a refusal.
    pub fn record(&self, fingerprint: Fingerprint, reason: Denied) {
        {
            let mut entries = self.lock();
            let seq = entries.next_seq;
            entries.next_seq += 1;
            if entries.recent.len() == MAX_REFUSALS {
                entries.recent.pop_front();
            }
            entries.recent.push_back((
                seq,
                Refusal {
                    fingerprint,
                    reason,
                },
            ));
        }
        self.changed.notify_waiters();
    }

    /// The retained refusals, oldest first.
    pub fn entries(&self) -> Vec<Refusal> {
        self.lock().recent.iter().map(|(_, r)| *r).collect()
    }

    /// A mark to take before connecting: [`RefusalLog::wait_for`] then
    /// looks only at refusals recorded after it.
    pub fn mark(&self) -> u64 {
        self.lock().next_seq
    }

    /// The reason of the first refusal of `fingerprint` since `mark`, if any.
    fn find_since(&self, fingerprint: &Fingerprint, mark: u64) -> Option<Denied> {
        self.lock()
            .recent
            .iter()
            .find(|(seq, r)| *seq >= mark && r.fingerprint == *fingerprint)
            .map(|(_, r)| r.reason)
    }

    /// Waits up to `wait_ms` for a refusal of `fingerprint` recorded since
    /// `mark`, and returns its reason.
    pub async fn wait_for(
        &self,
        fingerprint: &Fingerprint,
        mark: u64,
        wait_ms: u64,
    ) -> Option<Denied> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        loop {
            // Register interest before looking, so a record made in between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(reason) = self.find_since(fingerprint, mark) {
                return Some(reason);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }
}

/// How a client decides which server certificate it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerPolicy {
    /// Exactly this certificate: how the FC knows an FA.
    Pinned(Fingerprint),
    /// A certificate chained to this root and naming the server: how SMAPI
    /// and admin know the FC.
    ChainedToRoot {
        /// The fabric root certificate.
        root: CertificateDer<'static>,
    },
}

/// A client's record of why it refused the server, if it did.
pub type ServerRefusal = Arc<Mutex<Option<Denied>>>;

#[derive(Debug)]
struct PolicyClientVerifier {
    policy: ClientPolicy,
    bugs: BugSet,
    refusals: Arc<RefusalLog>,
    provider: Arc<CryptoProvider>,
}

fn certificate_error(reason: Denied) -> rustls::Error {
    rustls::Error::InvalidCertificate(match reason {
        Denied::UnauthenticatedPeer => CertificateError::UnknownIssuer,
        _ => CertificateError::ApplicationVerificationFailure,
    })
}

impl ClientCertVerifier for PolicyClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a client sends the one certificate it has, and the policy decides.
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fingerprint = Fingerprint::of(end_entity);
        match authenticate_client(&self.policy, end_entity, intermediates, now, self.bugs) {
            Ok(identity) => {
                tracing::debug!(%fingerprint, %identity, "accepted client certificate");
                Ok(ClientCertVerified::assertion())
            }
            Err(reason) => {
                tracing::warn!(%fingerprint, "refused client certificate: {reason}");
                self.refusals.record(fingerprint, reason);
                Err(certificate_error(reason))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(Debug)]
struct PolicyServerVerifier {
    policy: ServerPolicy,
    refused: ServerRefusal,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PolicyServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let decision = match &self.policy {
            ServerPolicy::Pinned(pinned) => authenticate_server(pinned, end_entity),
            ServerPolicy::ChainedToRoot { root } => {
                authenticate_fc_server(root, end_entity, intermediates, server_name, now)
            }
        };
        match decision {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(reason) => {
                tracing::warn!(fingerprint = %Fingerprint::of(end_entity), "refused server certificate: {reason}");
                *self
                    .refused
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
                Err(certificate_error(reason))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A server configuration presenting `credential` and requiring a client
/// certificate that `policy` accepts; refusals go to `refusals`.
pub fn server_config(
    credential: &Credential,
    policy: ClientPolicy,
    bugs: BugSet,
    refusals: Arc<RefusalLog>,
) -> Result<Arc<ServerConfig>, ControlError> {
    let provider = provider();
    let verifier = Arc::new(PolicyClientVerifier {
        policy,
        bugs,
        refusals,
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(credential.chain().to_vec(), credential.private_key())?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A client configuration presenting `credential` and accepting only a
/// server certificate that `policy` accepts. The returned slot tells, after
/// a failed handshake, whether and why the client refused the server.
pub fn client_config(
    credential: &Credential,
    policy: ServerPolicy,
) -> Result<(Arc<ClientConfig>, ServerRefusal), ControlError> {
    let provider = provider();
    let refused = ServerRefusal::default();
    let verifier = Arc::new(PolicyServerVerifier {
        policy,
        refused: refused.clone(),
        provider: provider.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(credential.chain().to_vec(), credential.private_key())?;
    config.resumption = Resumption::disabled();
    Ok((Arc::new(config), refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusal_log_is_bounded_and_marks_separate_attempts() {
        let log = RefusalLog::default();
        let a = Fingerprint([1; 32]);
        let b = Fingerprint([2; 32]);
        log.record(a, Denied::UnpinnedFingerprint);
        let mark = log.mark();
        // The refusal before the mark is not this attempt's.
        assert_eq!(log.wait_for(&a, mark, 10).await, None);
        log.record(b, Denied::UnauthenticatedPeer);
        assert_eq!(log.wait_for(&a, mark, 10).await, None);
        log.record(a, Denied::UnauthenticatedPeer);
        assert_eq!(
            log.wait_for(&a, mark, 10).await,
            Some(Denied::UnauthenticatedPeer)
        );
        for _ in 0..2 * MAX_REFUSALS {
            log.record(b, Denied::UnauthenticatedPeer);
        }
        assert_eq!(log.entries().len(), MAX_REFUSALS);
        assert!(log.entries().iter().all(|r| r.fingerprint == b));
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_a_later_record() {
        let log = Arc::new(RefusalLog::default());
        let a = Fingerprint([7; 32]);
        let mark = log.mark();
        let writer = log.clone();
        let recorder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writer.record(a, Denied::UnpinnedFingerprint);
        });
        assert_eq!(
            log.wait_for(&a, mark, 5_000).await,
            Some(Denied::UnpinnedFingerprint)
        );
        recorder.await.expect("recorder finishes");
    }
}
