//! Fuzzes the import parser (`certdeck::domain::certpem`) with untrusted bytes.
//!
//! The input is split on NUL bytes into certificate / private key / chain parts (a missing part
//! is absent, an empty chain part is `None`); the whole input is also fed as every part, so raw
//! DER and single-file PEM bundles are covered without the separator. The parsers must never
//! panic, and what they accept must survive a round trip through their own normalised output.

#![no_main]

use certdeck::domain::certpem::{
    cert_facts, certificates_der, key_public_part, parse_bundle, pem_blocks, pem_encode, ParsedBundle,
};
use libfuzzer_sys::fuzz_target;

/// The parser's input limit (`certpem::MAX_INPUT`, private there).
const MAX_INPUT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The building blocks on their own.
    if let Ok(blocks) = pem_blocks(data) {
        for b in &blocks {
            let _ = key_public_part(&b.label, &b.der);
            let _ = cert_facts(&b.der);
            // Re-encoding a block and reading it back gives the same block (within the
            // parser's 1 MiB input limit; re-wrapping at 64 columns can grow the text).
            let pem = pem_encode(&b.label, &b.der);
            if pem.len() > MAX_INPUT {
                continue;
            }
            let again = pem_blocks(pem.as_bytes()).expect("pem_encode output must parse");
            assert_eq!(again.len(), 1, "one block in, one block out");
            assert_eq!(again[0].label, b.label);
            assert_eq!(again[0].der, b.der);
        }
    }
    if let Ok(certs) = certificates_der(data) {
        assert!(!certs.is_empty(), "certificates_der returned Ok with no certificate");
        for der in &certs {
            let _ = cert_facts(der);
        }
    }
    let _ = cert_facts(data);
    for label in [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "X",
    ] {
        let _ = key_public_part(label, data);
    }

    // The whole input as every part.
    check(data, data, Some(data));
    check(data, data, None);

    // cert \0 key [\0 chain]
    let mut parts = data.splitn(3, |b| *b == 0);
    let cert = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let chain = parts.next().filter(|c| !c.is_empty());
    check(cert, key, chain);
});

fn check(cert: &[u8], key: &[u8], chain: Option<&[u8]>) {
    match parse_bundle(cert, key, chain) {
        Ok(b) => round_trip(&b),
        Err((field, message)) => {
            assert!(
                matches!(field.as_str(), "certificate" | "chain" | "private_key"),
                "unexpected field {field:?}"
            );
            assert!(!message.is_empty(), "empty error message for {field}");
        }
    }
}

/// What certdeck stores after an import must import again, to the same facts.
fn round_trip(b: &ParsedBundle) {
    assert!(!b.domains.is_empty());
    assert_eq!(b.main_domain, b.domains[0]);
    assert!(b.main_domain.len() <= 255);
    let sizes = [
        b.certificate_pem.len(),
        b.private_key_pem.len(),
        b.chain_pem.as_ref().map_or(0, String::len),
    ];
    if sizes.iter().any(|n| *n > MAX_INPUT) {
        return; // a chain gathered from two inputs can outgrow the per-file limit
    }
    let again = parse_bundle(
        b.certificate_pem.as_bytes(),
        b.private_key_pem.as_bytes(),
        b.chain_pem.as_deref().map(str::as_bytes),
    )
    .expect("the normalised PEM of an accepted bundle must parse again");
    assert_eq!(again.certificate_pem, b.certificate_pem);
    assert_eq!(again.chain_pem, b.chain_pem);
    assert_eq!(again.private_key_pem, b.private_key_pem);
    assert_eq!(again.domains, b.domains);
    assert_eq!(again.issuer, b.issuer);
    assert_eq!(again.expires_at, b.expires_at);
    assert_eq!(again.issued_at, b.issued_at);
}
