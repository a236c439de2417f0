//! Parsing of certificate material as operators have it: PEM (or DER) certificates, chains and
//! private keys (PKCS#8, PKCS#1 RSA, SEC1 EC). Never panics on any input; every refusal says
//! what is wrong. The key must match the certificate.

use base64::Engine;
use chrono::{DateTime, Utc};
use x509_parser::asn1_rs::{Any, Class, FromDer, Tag};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use super::{CertificateType, EncryptionType};

/// A parsed, consistent certificate + key (+ chain).
#[derive(Clone)]
pub struct ParsedBundle {
    /// Leaf certificate, normalised PEM.
    pub certificate_pem: String,
    /// Intermediates, normalised PEM (may be empty).
    pub chain_pem: Option<String>,
    /// Private key, normalised PEM (a secret).
    pub private_key_pem: String,
    /// The first DNS name.
    pub main_domain: String,
    /// Every DNS name (SANs, else the CN).
    pub domains: Vec<String>,
    /// Issuer CN, else O, at most 100 characters.
    pub issuer: Option<String>,
    /// Single, wildcard or multi-domain.
    pub certificate_type: CertificateType,
    /// RSA or ECC.
    pub encryption_type: EncryptionType,
    /// Not before.
    pub issued_at: DateTime<Utc>,
    /// Not after.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ParsedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedBundle")
            .field("main_domain", &self.main_domain)
            .field("domains", &self.domains)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Facts read from a certificate alone.
#[derive(Debug, Clone)]
pub struct CertFacts {
    /// DNS names.
    pub domains: Vec<String>,
    /// Issuer CN or O.
    pub issuer: Option<String>,
    /// Key algorithm.
    pub encryption_type: EncryptionType,
    /// Not before.
    pub issued_at: DateTime<Utc>,
    /// Not after.
    pub expires_at: DateTime<Utc>,
    /// Subject public key, comparable with [`key_public_part`].
    pub public_key: KeyPublic,
}

/// The public half of a key, comparable across certificate and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPublic {
    /// RSA modulus and exponent (leading zeros stripped).
    Rsa(Vec<u8>, Vec<u8>),
    /// EC public point (SEC1 encoding).
    Ec(Vec<u8>),
}

/// A PEM block.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// Label, e.g. `CERTIFICATE`.
    pub label: String,
    /// Decoded bytes.
    pub der: Vec<u8>,
}

const MAX_INPUT: usize = 1 << 20;

/// Splits text into PEM blocks. Text outside blocks is ignored (comments, `openssl` output).
pub fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, String> {
    if input.len() > MAX_INPUT {
        return Err("input is larger than 1 MiB".into());
    }
    let text = String::from_utf8_lossy(input);
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if let Some(end) = l.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
                if end != label {
                    return Err(format!("PEM block BEGIN {label} ends with END {end}"));
                }
                closed = true;
                break;
            }
            if l.contains(':') {
                // RFC 1421 headers such as Proc-Type: an encrypted legacy key.
                return Err(format!("PEM block {label} has headers ({l}): encrypted keys are not supported; decrypt it first (openssl pkey -in key.pem -out plain.pem)"));
            }
            body.push_str(l);
        }
        if !closed {
            return Err(format!("PEM block {label} has no END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("PEM block {label} is not valid base64"))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    Ok(blocks)
}

/// Encodes DER as PEM with 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER certificates in `input`: PEM blocks labelled CERTIFICATE, or one raw DER certificate.
pub fn certificates_der(input: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem_blocks(input)?;
    if blocks.is_empty() {
        if input.first() == Some(&0x30) && parse_x509_certificate(input).is_ok() {
            return Ok(vec![input.to_vec()]);
        }
        return Err("no certificate found (expected PEM '-----BEGIN CERTIFICATE-----' or DER)".into());
    }
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect();
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// Lowercase hex of bytes (the one hex encoder of the tree: fingerprints, serials, token
/// hashes, signatures).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `data`, lowercase hex (a certificate's fingerprint when `data` is its DER).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// A serial number as certdeck shows and compares it: lowercase hex of the raw big-endian
/// bytes without leading zero bytes (one `00` byte stays for a zero serial).
fn format_serial(raw: &[u8]) -> String {
    let i = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    hex(&raw[i..])
}

/// The serial number of a DER certificate, formatted as [`CertSummary::serial_hex`].
pub fn serial_hex(der: &[u8]) -> Option<String> {
    summarize(der, Utc::now()).ok().map(|s| s.serial_hex)
}

/// Whole days from `now` to `t` (rounded toward negative infinity: 1 h after expiry is -1).
pub fn days_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (t - now).num_seconds().div_euclid(86_400)
}

/// Everything certdeck reads from one X.509 certificate: the one summary behind the prober's
/// chain, discovery's "certificate in use", deploy's served serial and the import checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject DN, e.g. `CN=www.example.com`.
    pub subject: String,
    /// The subject's first common name, when it is a string.
    pub subject_cn: Option<String>,
    /// DNS and IP subject alternative names, in the certificate's order, as written.
    pub sans: Vec<String>,
    /// The DNS subject alternative names only, as written.
    pub dns_names: Vec<String>,
    /// Issuer DN.
    pub issuer: String,
    /// The issuer's first common name, when it is a string.
    pub issuer_cn: Option<String>,
    /// The issuer's first organization, when it is a string.
    pub issuer_org: Option<String>,
    /// Serial, lowercase hex without leading zero bytes.
    pub serial_hex: String,
    /// Not before.
    pub not_before: DateTime<Utc>,
    /// Not after.
    pub not_after: DateTime<Utc>,
    /// Whole days until not_after at the `now` given to [`summarize`] (negative once expired).
    pub days_left: i64,
    /// `RSA`, `EC P-256`, `EC P-384`, `EC P-521`, `Ed25519`, `Ed448`, or the key OID.
    pub key_type: String,
    /// Key size in bits (RSA modulus, curve size).
    pub key_bits: u32,
    /// The public key when it is RSA or EC (comparable with [`key_public_part`]); else why not.
    pub public_key: Result<KeyPublic, String>,
    /// e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, or the OID.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256_hex: String,
    /// Subject equals issuer.
    pub self_signed: bool,
}

impl CertSummary {
    /// The subject's common name, else the whole DN.
    pub fn subject_label(&self) -> String {
        self.subject_cn.clone().unwrap_or_else(|| self.subject.clone())
    }

    /// The issuer's common name, else the whole DN.
    pub fn issuer_label(&self) -> String {
        self.issuer_cn.clone().unwrap_or_else(|| self.issuer.clone())
    }

    /// The DNS subject alternative names, lowercased.
    pub fn dns_names_lower(&self) -> Vec<String> {
        self.dns_names.iter().map(|d| d.to_ascii_lowercase()).collect()
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return other.to_string(),
    }
    .to_string()
}

fn key_info(spki: &SubjectPublicKeyInfo<'_>) -> (String, u32) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => return ("Ed25519".into(), 256),
        "1.3.101.113" => return ("Ed448".into(), 456),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA".into(), k.key_size() as u32),
        Ok(PublicKey::EC(p)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("EC P-256".into(), 256),
                Some("1.3.132.0.34") => ("EC P-384".into(), 384),
                Some("1.3.132.0.35") => ("EC P-521".into(), 521),
                Some(o) => (format!("EC {o}"), p.key_size() as u32),
                None => ("EC".into(), p.key_size() as u32),
            }
        }
        Ok(PublicKey::DSA(_)) => ("DSA".into(), 0),
        _ => (alg, 0),
    }
}

/// Whether a DER certificate carries an RSA key of fewer than 2048 bits (which ring refuses to
/// verify signatures with). False when it does not parse.
pub fn is_weak_rsa(der: &[u8]) -> bool {
    summarize(der, Utc::now()).is_ok_and(|s| s.key_type == "RSA" && s.key_bits < 2048)
}

/// The first attribute of a name that is a string.
fn first_str<'a, 'b: 'a>(mut it: impl Iterator<Item = &'a AttributeTypeAndValue<'b>>) -> Option<String> {
    it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
}

/// The summary of one DER certificate; `now` sets `days_left`. Never panics on any input.
pub fn summarize(der: &[u8], now: DateTime<Utc>) -> Result<CertSummary, String> {
    let (_, c) = parse_x509_certificate(der).map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let mut sans = Vec::new();
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => {
                    sans.push(d.to_string());
                    dns_names.push(d.to_string());
                }
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        sans.push(std::net::IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        sans.push(std::net::IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    // ASN.1 times (years 0000-9999) are always inside chrono's range.
    let ts = |t: ASN1Time| DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or_default();
    let not_before = ts(c.validity().not_before);
    let not_after = ts(c.validity().not_after);
    let (key_type, key_bits) = key_info(c.public_key());
    let public_key = match c.public_key().parsed() {
        Ok(PublicKey::RSA(k)) => Ok(KeyPublic::Rsa(strip_zeros(k.modulus), strip_zeros(k.exponent))),
        Ok(PublicKey::EC(p)) => Ok(KeyPublic::Ec(p.data().to_vec())),
        Ok(_) => Err(
            "the certificate's key is neither RSA nor ECDSA: only RSA and ECC certificates are supported".to_string(),
        ),
        Err(e) => Err(format!("the certificate's public key cannot be read: {e}")),
    };
    Ok(CertSummary {
        subject: c.subject().to_string(),
        subject_cn: first_str(c.subject().iter_common_name()),
        sans,
        dns_names,
        issuer: c.issuer().to_string(),
        issuer_cn: first_str(c.issuer().iter_common_name()),
        issuer_org: first_str(c.issuer().iter_organization()),
        serial_hex: format_serial(c.raw_serial()),
        not_before,
        not_after,
        days_left: days_until(not_after, now),
        key_type,
        key_bits,
        public_key,
        signature_algorithm: signature_name(&c.signature_algorithm.algorithm.to_id_string()),
        sha256_hex: sha256_hex(der),
        self_signed: c.subject().as_raw() == c.issuer().as_raw(),
    })
}

/// Reads the facts of one DER certificate for an import: its [`summarize`]d names, issuer,
/// dates and key, refusing trailing bytes and keys that are neither RSA nor EC.
pub fn cert_facts(der: &[u8]) -> Result<CertFacts, String> {
    let s = summarize(der, Utc::now())?;
    if !Any::from_der(der).is_ok_and(|(rest, _)| rest.is_empty()) {
        return Err("trailing bytes after the certificate".into());
    }
    let mut domains: Vec<String> = Vec::new();
    for d in &s.dns_names {
        let d = d.trim().to_ascii_lowercase();
        if !d.is_empty() && !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.is_empty() {
        // A CN is only a name when it parses as one ("Acme Root CA" is not a domain).
        if let Some(cn) = &s.subject_cn {
            if let Ok(d) = super::DomainName::parse(cn.trim()) {
                domains.push(d.as_str().to_string());
            }
        }
    }
    let issuer = s
        .issuer_cn
        .clone()
        .or_else(|| s.issuer_org.clone())
        .map(|s| s.chars().take(100).collect::<String>());
    let public_key = s.public_key?;
    let encryption_type = match public_key {
        KeyPublic::Rsa(..) => EncryptionType::Rsa,
        KeyPublic::Ec(_) => EncryptionType::Ecc,
    };
    Ok(CertFacts {
        domains,
        issuer,
        encryption_type,
        issued_at: s.not_before,
        expires_at: s.not_after,
        public_key,
    })
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

fn der_children(data: &[u8]) -> Result<Vec<Any<'_>>, String> {
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (r, a) = Any::from_der(rest).map_err(|_| "malformed DER".to_string())?;
        out.push(a);
        rest = r;
        if out.len() > 64 {
            return Err("malformed DER (too many elements)".into());
        }
    }
    Ok(out)
}

fn der_sequence(data: &[u8]) -> Result<Vec<Any<'_>>, String> {
    let (_, outer) = Any::from_der(data).map_err(|_| "malformed DER".to_string())?;
    if outer.header.tag() != Tag::Sequence {
        return Err("expected a DER SEQUENCE".into());
    }
    der_children(outer.data)
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The public part of a private key given as DER with its PEM label.
pub fn key_public_part(label: &str, der: &[u8]) -> Result<KeyPublic, String> {
    match label {
        "RSA PRIVATE KEY" => rsa_public(der),
        "EC PRIVATE KEY" => ec_public(der),
        "PRIVATE KEY" => {
            let items = der_sequence(der)?;
            let alg = items.get(1).ok_or("PKCS#8 key without algorithm")?;
            let alg_items = der_children(alg.data)?;
            let oid = alg_items.first().ok_or("PKCS#8 key without algorithm OID")?;
            let inner = items.get(2).ok_or("PKCS#8 key without key data")?;
            if inner.header.tag() != Tag::OctetString {
                return Err("PKCS#8 key data is not an OCTET STRING".into());
            }
            if oid.data == OID_RSA {
                rsa_public(inner.data)
            } else if oid.data == OID_EC {
                ec_public(inner.data)
            } else {
                Err("the private key is neither RSA nor ECDSA (Ed25519 and others are not supported)".into())
            }
        }
        "ENCRYPTED PRIVATE KEY" => {
            Err("the private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)".into())
        }
        other => Err(format!("'{other}' is not a private key block")),
    }
}

fn rsa_public(der: &[u8]) -> Result<KeyPublic, String> {
    let items = der_sequence(der).map_err(|e| format!("RSA private key: {e}"))?;
    if items.len() < 9 || items.iter().take(9).any(|i| i.header.tag() != Tag::Integer) {
        return Err("RSA private key is malformed (expected PKCS#1 RSAPrivateKey)".into());
    }
    Ok(KeyPublic::Rsa(strip_zeros(items[1].data), strip_zeros(items[2].data)))
}

fn ec_public(der: &[u8]) -> Result<KeyPublic, String> {
    let items = der_sequence(der).map_err(|e| format!("EC private key: {e}"))?;
    for item in items.iter().skip(2) {
        if item.header.class() == Class::ContextSpecific && item.header.tag() == Tag(1) {
            let (_, bits) = Any::from_der(item.data).map_err(|_| "EC private key: malformed public key".to_string())?;
            if bits.header.tag() != Tag::BitString || bits.data.len() < 2 {
                return Err("EC private key: malformed public key".into());
            }
            return Ok(KeyPublic::Ec(bits.data[1..].to_vec()));
        }
    }
    Err(
        "EC private key has no embedded public key; re-export it with openssl (openssl ec -in key.pem -out key2.pem)"
            .into(),
    )
}

/// Parses an import: the certificate file (leaf first, possibly followed by the chain), the key
/// file, and an optional separate chain file.
pub fn parse_bundle(
    cert_input: &[u8],
    key_input: &[u8],
    chain_input: Option<&[u8]>,
) -> Result<ParsedBundle, (String, String)> {
    let err = |f: &str, m: String| (f.to_string(), m);
    let certs = certificates_der(cert_input).map_err(|e| err("certificate", e))?;
    let leaf_der = certs[0].clone();
    let facts = cert_facts(&leaf_der).map_err(|e| err("certificate", e))?;
    let mut chain: Vec<Vec<u8>> = certs[1..].to_vec();
    if let Some(c) = chain_input {
        chain.extend(certificates_der(c).map_err(|e| err("chain", e))?);
    }
    for (i, c) in chain.iter().enumerate() {
        cert_facts(c).map_err(|e| err("chain", format!("certificate {} of the chain: {e}", i + 1)))?;
    }
    let key_blocks: Vec<PemBlock> = pem_blocks(key_input)
        .map_err(|e| err("private_key", e))?
        .into_iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"))
        .collect();
    let key = match key_blocks.len() {
        0 => {
            return Err(err(
                "private_key",
                "no private key found (expected '-----BEGIN … PRIVATE KEY-----')".into(),
            ))
        }
        1 => &key_blocks[0],
        n => return Err(err("private_key", format!("{n} private keys found; give exactly one"))),
    };
    let public = key_public_part(&key.label, &key.der).map_err(|e| err("private_key", e))?;
    if public != facts.public_key {
        return Err(err(
            "private_key",
            "does not match the certificate (its public key differs): is it the key this certificate was issued for?"
                .into(),
        ));
    }
    if facts.domains.is_empty() {
        return Err(err(
            "certificate",
            "names no domain (no DNS subjectAltName and no CN)".into(),
        ));
    }
    let main_domain = facts.domains[0].clone();
    if main_domain.len() > 255 {
        return Err(err(
            "certificate",
            "its main domain is longer than 255 characters".into(),
        ));
    }
    let certificate_type = if facts.domains.iter().any(|d| d.starts_with("*.")) {
        CertificateType::Wildcard
    } else if facts.domains.len() > 1 {
        CertificateType::MultiDomain
    } else {
        CertificateType::Single
    };
    let chain_pem = (!chain.is_empty()).then(|| chain.iter().map(|c| pem_encode("CERTIFICATE", c)).collect::<String>());
    Ok(ParsedBundle {
        certificate_pem: pem_encode("CERTIFICATE", &leaf_der),
        chain_pem,
        private_key_pem: pem_encode(&key.label, &key.der),
        main_domain,
        domains: facts.domains,
        issuer: facts.issuer,
        certificate_type,
        encryption_type: facts.encryption_type,
        issued_at: facts.issued_at,
        expires_at: facts.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ecdsa_cert(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn parses_a_matching_pair_and_classifies_it() {
        let (cert, key) = ecdsa_cert(&["www.example.com", "example.com"]);
        let b = parse_bundle(cert.as_bytes(), key.as_bytes(), None).unwrap();
        assert_eq!(b.main_domain, "www.example.com");
        assert_eq!(b.domains, vec!["www.example.com", "example.com"]);
        assert_eq!(b.certificate_type, CertificateType::MultiDomain);
        assert_eq!(b.encryption_type, EncryptionType::Ecc);
        assert!(b.expires_at > b.issued_at);

        let (wc, wk) = ecdsa_cert(&["*.example.org"]);
        assert_eq!(
            parse_bundle(wc.as_bytes(), wk.as_bytes(), None)
                .unwrap()
                .certificate_type,
            CertificateType::Wildcard
        );
    }

    #[test]
    fn the_summary_formats_serials_fingerprints_and_names_as_before() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["Www.Example.com".to_string()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x00, 0x0a, 0xbc]));
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("192.0.2.7".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "www.example.com");
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let s = summarize(&der, Utc::now()).unwrap();
        assert_eq!(s.serial_hex, "0abc", "leading zero bytes dropped, lowercase");
        assert_eq!(serial_hex(&der).as_deref(), Some("0abc"));
        assert_eq!(s.sha256_hex, sha256_hex(&der));
        assert_eq!(s.sha256_hex.len(), 64);
        assert!(s
            .sha256_hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_eq!(s.sans, vec!["Www.Example.com", "192.0.2.7"]);
        assert_eq!(s.dns_names_lower(), vec!["www.example.com"]);
        assert_eq!(s.subject_label(), "www.example.com");
        assert_eq!(s.key_type, "EC P-256");
        assert!(s.self_signed);
        assert_eq!(hex(&[0x00, 0x0f, 0xa0]), "000fa0");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format_serial(&[0, 0]), "00", "a zero serial keeps one byte");
        let facts = cert_facts(&der).unwrap();
        assert_eq!(facts.domains, vec!["www.example.com"]);
        assert_eq!(facts.issuer.as_deref(), Some("www.example.com"));
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(
            cert_facts(&trailing).unwrap_err(),
            "trailing bytes after the certificate"
        );
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let (cert, _) = ecdsa_cert(&["a.example.com"]);
        let (_, other_key) = ecdsa_cert(&["b.example.com"]);
        let (f, msg) = parse_bundle(cert.as_bytes(), other_key.as_bytes(), None).unwrap_err();
        assert_eq!(f, "private_key");
        assert!(msg.contains("does not match"), "{msg}");
    }

    #[test]
    fn refuses_malformed_input_with_a_reason() {
        let (cert, key) = ecdsa_cert(&["a.example.com"]);
        assert!(parse_bundle(b"hello", key.as_bytes(), None)
            .unwrap_err()
            .1
            .contains("no certificate"));
        let truncated = &cert[..cert.len() / 2];
        assert!(parse_bundle(truncated.as_bytes(), key.as_bytes(), None).is_err());
        assert!(parse_bundle(cert.as_bytes(), b"", None)
            .unwrap_err()
            .1
            .contains("no private key"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(a in proptest::collection::vec(any::<u8>(), 0..2048), b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_bundle(&a, &b, Some(&a));
            let _ = certificates_der(&a);
            let _ = key_public_part("PRIVATE KEY", &a);
            let _ = key_public_part("EC PRIVATE KEY", &a);
            let _ = key_public_part("RSA PRIVATE KEY", &a);
        }

        #[test]
        fn never_panics_on_mangled_pem(cut in 0usize..600, flip in 0usize..600, byte in any::<u8>()) {
            let (cert, key) = ecdsa_cert(&["p.example.com"]);
            let mut c = cert.into_bytes();
            let n = c.len();
            c[flip % n] = byte;
            c.truncate(cut.max(1) % n + 1);
            let _ = parse_bundle(&c, key.as_bytes(), None);
            let mut k = key.into_bytes();
            let m = k.len();
            k[flip % m] ^= byte;
            let _ = parse_bundle(cert_bytes_again(), &k, None);
        }
    }

    fn cert_bytes_again() -> &'static [u8] {
        static C: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        C.get_or_init(|| ecdsa_cert(&["q.example.com"]).0).as_bytes()
    }
}
