//! Development certificates: a CA made for the occasion and a server certificate it signed
//! (ECDSA P-256, 90 days). `keyward tls self-signed` writes them out; tests serve with them. The
//! CA's private key is dropped once the server certificate is signed, so nothing else can ever
//! be signed by it.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// The PEM texts of a development CA and server certificate.
pub struct DevCertificates {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The server certificate.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: Zeroizing<String>,
    /// The names and addresses the certificate is valid for.
    pub names: Vec<String>,
}

impl std::fmt::Debug for DevCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCertificates")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// Makes a CA and a server certificate for `localhost`, `127.0.0.1`, `::1` and `extra` names.
pub fn generate(extra: &[String]) -> Result<DevCertificates, String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    for name in extra {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let now = OffsetDateTime::now_utc();
    let err = |what: &'static str| move |e: rcgen::Error| format!("cannot make the {what}: {e}");

    let ca_key = KeyPair::generate().map_err(err("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err("CA"))?;
    ca.distinguished_name
        .push(DnType::CommonName, "Keyward development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::hours(1);
    ca.not_after = now + Duration::days(90);
    let ca = ca.self_signed(&ca_key).map_err(err("CA"))?;

    let key = KeyPair::generate().map_err(err("server key"))?;
    let mut leaf = CertificateParams::new(names.clone())
        .map_err(|e| format!("not a valid host name or address among {names:?}: {e}"))?;
    leaf.distinguished_name.push(DnType::CommonName, &names[0]);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - Duration::hours(1);
    leaf.not_after = now + Duration::days(90);
    let leaf = leaf
        .signed_by(&key, &ca, &ca_key)
        .map_err(err("server certificate"))?;
    Ok(DevCertificates {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
        names,
    })
}
