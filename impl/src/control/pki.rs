//! The fabric's certificates, made with rcgen at start-up.
//!
//! The seeds: FC certificates chain to a trusted fabric root; every other
//! certificate (FA, SMAPI, admin) is self-signed and pinned by its SHA-256
//! fingerprint. The root's private key is dropped as soon as the FC
//! certificate is signed, so nothing in the running fabric can mint another
//! FC certificate.

use super::error::ControlError;
use crate::net::HostId;
use crate::secret::SecretBytes;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The DNS name in the FC's certificate; clients of the FC check it.
pub const FC_SERVER_NAME: &str = "fc.fabric.internal";

/// The SHA-256 digest of a DER certificate: what a pinned peer is known by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert`.
    pub fn of(cert: &CertificateDer<'_>) -> Fingerprint {
        Fingerprint(Sha256::digest(cert.as_ref()).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why a string is not a fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 64 hexadecimal digits")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| BadFingerprint)?;
        Ok(Fingerprint(bytes))
    }
}

// As a hex string, so fingerprints read the same in JSON as on the console.
impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A certificate chain and its private key: what a party presents in TLS.
///
/// `Debug` shows the fingerprint and never the key; the key is zeroized on drop.
#[derive(Clone)]
pub struct Credential {
    chain: Vec<CertificateDer<'static>>,
    /// PKCS#8 DER of the private key.
    key: SecretBytes,
}

impl Credential {
    /// The chain, end-entity certificate first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The end-entity certificate.
    pub fn end_entity(&self) -> &CertificateDer<'static> {
        // Credentials are only built in this module, always with their own certificate first.
        self.chain
            .first()
            .expect("a credential always holds its own certificate")
    }

    /// The end-entity certificate's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.end_entity())
    }

    /// The private key, for the one place that needs it: a rustls config.
    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.expose().to_vec()))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .field("key", &self.key)
            .finish()
    }
}

/// Every certificate of a fabric.
#[derive(Clone, Debug)]
pub struct FabricPki {
    root: CertificateDer<'static>,
    fc: Credential,
    fas: Vec<Credential>,
    smapi: Credential,
    admin: Credential,
    rogue: Credential,
}

impl FabricPki {
    /// Generates a fresh root, an FC certificate signed by it, one
    /// self-signed certificate per FA host (`hosts` of them), one each for
    /// SMAPI and admin, and a rogue self-signed certificate registered nowhere.
    pub fn generate(hosts: usize) -> Result<FabricPki, ControlError> {
        let root_key = KeyPair::generate()?;
        let mut root_params = params("fabric root", &[])?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let root = root_params.self_signed(&root_key)?.der().clone();
        let issuer = Issuer::new(root_params, root_key);

        let fc_key = KeyPair::generate()?;
        let mut fc_params = params("fabric controller", &[FC_SERVER_NAME])?;
        fc_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        fc_params.use_authority_key_identifier_extension = true;
        let fc_cert = fc_params.signed_by(&fc_key, &issuer)?.der().clone();
        // The root's key goes with `issuer` here: no FC certificate can be made after start-up.
        drop(issuer);
        let fc = Credential {
            chain: vec![fc_cert, root.clone()],
            key: SecretBytes::new(fc_key.serialize_der()),
        };

        let fas = (0..hosts)
            .map(|h| {
                self_signed(
                    &format!("fabric agent {h}"),
                    &format!("fa-{h}.fabric.internal"),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FabricPki {
            root,
            fc,
            fas,
            smapi: self_signed("smapi", "smapi.fabric.internal")?,
            admin: self_signed("admin", "admin.fabric.internal")?,
            rogue: self_signed("rogue", "rogue.example")?,
        })
    }

    /// The fabric root certificate (its key no longer exists).
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// The FC's credential, chained to the root.
    pub fn fc(&self) -> &Credential {
        &self.fc
    }

    /// The FA credential of `host`.
    pub fn fa(&self, host: HostId) -> Option<&Credential> {
        self.fas.get(usize::from(host))
    }

    /// Every FA credential, by host.
    pub fn fas(&self) -> &[Credential] {
        &self.fas
    }

    /// SMAPI's credential.
    pub fn smapi(&self) -> &Credential {
        &self.smapi
    }

    /// The administrators' credential.
    pub fn admin(&self) -> &Credential {
        &self.admin
    }

    /// A self-signed credential that no party pins or trusts.
    pub fn rogue(&self) -> &Credential {
        &self.rogue
    }
}

fn params(common_name: &str, dns_names: &[&str]) -> Result<CertificateParams, rcgen::Error> {
    let mut p =
        CertificateParams::new(dns_names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    Ok(p)
}

/// A self-signed end-entity certificate usable on both sides of TLS.
fn self_signed(common_name: &str, dns_name: &str) -> Result<Credential, rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut p = params(common_name, &[dns_name])?;
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = p.self_signed(&key)?.der().clone();
    Ok(Credential {
        chain: vec![cert],
        key: SecretBytes::new(key.serialize_der()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_distinct_and_round_trip() {
        let pki = FabricPki::generate(2).expect("pki");
        let all = [
            pki.fc(),
            pki.smapi(),
            pki.admin(),
            pki.rogue(),
            &pki.fas()[0],
            &pki.fas()[1],
        ];
        let fps: std::collections::BTreeSet<_> = all.iter().map(|c| c.fingerprint()).collect();
        assert_eq!(fps.len(), all.len());
        let fp = pki.fc().fingerprint();
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.parse::<Fingerprint>(), Ok(fp));
        assert_eq!("zz".parse::<Fingerprint>(), Err(BadFingerprint));
        let json = serde_json::to_string(&fp).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&json).expect("deserialize"),
            fp
        );
        assert!(pki.fa(2).is_none());
    }

    #[test]
    fn credentials_never_print_their_key() {
        let pki = FabricPki::generate(1).expect("pki");
        let key = pki.fc().private_key();
        let printed = format!("{:?} {:?}", pki.fc(), pki);
        assert!(printed.contains("[REDACTED]"));
        assert!(!printed.contains(&hex::encode(key.secret_der())));
        assert!(!printed.contains(&format!("{:?}", key.secret_der())));
    }
}
