//! ACME (RFC 8555) with instant-acme: accounts (with External Account Binding), certificate
//! keys (ECDSA P-256/P-384 by rcgen, RSA 2048/3072/4096 by the RustCrypto `rsa` crate, which
//! rcgen cannot generate with ring), and an order run through a challenge [`Solver`].
//!
//! The engine knows no database: the service layer stores the account credentials (sealed),
//! the key and the certificate, and chooses the solver (DNS provider, webroot over SSH, …).
//! Every step is reported through a callback so a task can log it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, ExternalAccountKey, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use zeroize::Zeroizing;

/// A boxed future, for the object-safe [`Solver`] trait (the engines' one [`super::BoxFut`]).
pub use super::BoxFut;

/// Why an ACME operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with a problem document.
    #[error("the CA refused: {detail} ({kind}){subs}")]
    Problem {
        /// The problem type URN.
        kind: String,
        /// The CA's explanation.
        detail: String,
        /// Per-identifier subproblems, already formatted (`; name: detail`).
        subs: String,
    },
    /// A challenge could not be put in place or removed.
    #[error("challenge for {domain}: {reason}")]
    Solver {
        /// The identifier.
        domain: String,
        /// What went wrong.
        reason: String,
    },
    /// An authorization or the order ended invalid.
    #[error("{0}")]
    Invalid(String),
    /// Network, timeout, key or encoding trouble.
    #[error("{0}")]
    Other(String),
}

impl AcmeError {
    /// Worth retrying later (network, timeouts, rate limits).
    pub fn is_transient(&self) -> bool {
        match self {
            AcmeError::Problem { kind, .. } => kind.ends_with(":rateLimited") || kind.ends_with(":serverInternal"),
            AcmeError::Other(_) => true,
            _ => false,
        }
    }
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(p) => AcmeError::Problem {
                kind: p
                    .r#type
                    .clone()
                    .unwrap_or_else(|| "urn:ietf:params:acme:error:unknown".into()),
                detail: p.detail.clone().unwrap_or_default(),
                subs: p
                    .subproblems
                    .iter()
                    .map(|s| {
                        let who = match &s.identifier {
                            Some(Identifier::Dns(d)) => d.clone(),
                            Some(other) => format!("{other:?}"),
                            None => "?".into(),
                        };
                        format!("; {who}: {}", s.detail.as_deref().unwrap_or(""))
                    })
                    .collect(),
            },
            other => AcmeError::Other(other.to_string()),
        }
    }
}

/// A certificate key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// ECDSA P-256.
    EcP256,
    /// ECDSA P-384.
    EcP384,
    /// RSA with this many bits (2048, 3072 or 4096).
    Rsa(u16),
}

impl KeySpec {
    /// Parses `ec256`, `ec384`, `rsa2048`, `rsa3072`, `rsa4096`.
    pub fn parse(s: &str) -> Result<KeySpec, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ec256" | "p256" | "ecdsa-p256" => Ok(KeySpec::EcP256),
            "ec384" | "p384" | "ecdsa-p384" => Ok(KeySpec::EcP384),
            "rsa2048" => Ok(KeySpec::Rsa(2048)),
            "rsa3072" => Ok(KeySpec::Rsa(3072)),
            "rsa4096" => Ok(KeySpec::Rsa(4096)),
            other => Err(format!(
                "unknown key type '{other}': use ec256, ec384, rsa2048, rsa3072 or rsa4096"
            )),
        }
    }

    /// The name [`KeySpec::parse`] reads.
    pub fn name(self) -> String {
        match self {
            KeySpec::EcP256 => "ec256".into(),
            KeySpec::EcP384 => "ec384".into(),
            KeySpec::Rsa(b) => format!("rsa{b}"),
        }
    }

    fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeySpec::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeySpec::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeySpec::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// A certificate's private key (PKCS#8).
pub struct CertKey {
    /// The key type.
    pub spec: KeySpec,
    /// PKCS#8 DER.
    pub pkcs8_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertKey({})", self.spec.name())
    }
}

impl CertKey {
    /// Generates a new key.
    pub fn generate(spec: KeySpec) -> Result<CertKey, AcmeError> {
        let der = match spec {
            KeySpec::EcP256 | KeySpec::EcP384 => {
                let kp = rcgen::KeyPair::generate_for(spec.algorithm()).map_err(|e| AcmeError::Other(e.to_string()))?;
                Zeroizing::new(kp.serialize_der())
            }
            KeySpec::Rsa(bits) => {
                if ![2048, 3072, 4096].contains(&bits) {
                    return Err(AcmeError::Other(format!(
                        "RSA keys are 2048, 3072 or 4096 bits, not {bits}"
                    )));
                }
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rand::rng(), usize::from(bits))
                    .map_err(|e| AcmeError::Other(format!("RSA key generation: {e}")))?;
                let doc = key
                    .to_pkcs8_der()
                    .map_err(|e| AcmeError::Other(format!("RSA key encoding: {e}")))?;
                Zeroizing::new(doc.as_bytes().to_vec())
            }
        };
        Ok(CertKey { spec, pkcs8_der: der })
    }

    /// The key as PEM (`PRIVATE KEY`).
    pub fn pem(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::domain::certpem::pem_encode("PRIVATE KEY", &self.pkcs8_der))
    }

    fn key_pair(&self) -> Result<rcgen::KeyPair, AcmeError> {
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(self.pkcs8_der.as_slice());
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, self.spec.algorithm())
            .map_err(|e| AcmeError::Other(format!("the certificate key cannot sign: {e}")))
    }
}

/// The challenge types certdeck solves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// A TXT record at `_acme-challenge.<domain>`.
    Dns01,
    /// A file at `http://<domain>/.well-known/acme-challenge/<token>`.
    Http01,
}

/// One challenge to put in place.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The identifier (no `*.`; see `wildcard`).
    pub domain: String,
    /// Whether it is the authorization of `*.domain`.
    pub wildcard: bool,
    /// The token.
    pub token: String,
    /// The key authorization (http-01 body).
    pub key_authorization: String,
    /// The TXT value (dns-01).
    pub dns_value: String,
}

impl Challenge {
    /// `_acme-challenge.<domain>` (dns-01).
    pub fn record_name(&self) -> String {
        format!("_acme-challenge.{}", self.domain)
    }

    /// `/.well-known/acme-challenge/<token>` (http-01).
    pub fn http_path(&self) -> String {
        format!("/.well-known/acme-challenge/{}", self.token)
    }
}

/// Receives a line per step, as it happens (a task logs them).
pub type Step<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Puts challenge responses in place and removes them.
pub trait Solver: Send + Sync {
    /// The challenge type this solver answers.
    fn kind(&self) -> ChallengeKind;
    /// Publishes every challenge of the order (called once, before any is validated), and
    /// waits until they are visible (DNS propagation). `step` hears what it does.
    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>>;
    /// Removes them again (called after validation, also on failure).
    fn cleanup<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>>;
}

/// An ACME account at one CA.
pub struct AcmeAccount {
    account: Account,
    /// The credentials (JSON with the key), for requests instant-acme does not make.
    credentials: Zeroizing<String>,
    /// The CA's own TLS trust root (PEM), if it has one.
    trust_root: Option<String>,
}

/// An account builder: the platform's roots, or only the CA's own trust root (PEM, kept in
/// memory: nothing is written to disk).
fn builder(trust_root: Option<&str>) -> Result<instant_acme::AccountBuilder, AcmeError> {
    let Some(pem) = trust_root else {
        return Ok(Account::builder()?);
    };
    let mut roots = rustls::RootCertStore::empty();
    for der in crate::domain::certpem::certificates_der(pem.as_bytes())
        .map_err(|e| AcmeError::Other(format!("the CA's trust root: {e}")))?
    {
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| AcmeError::Other(format!("the CA's trust root: {e}")))?;
    }
    if roots.is_empty() {
        return Err(AcmeError::Other("the CA's trust root holds no certificate".into()));
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: hyper_util::client::legacy::Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    Ok(Account::builder_with_http(Box::new(client)))
}

impl AcmeAccount {
    /// Creates an account (or finds the existing one of this key) at `directory`, agreeing to
    /// the terms of service. Returns the account and its credentials (JSON with the private key:
    /// seal it before storing).
    pub async fn create(
        directory: &str,
        contacts: &[String],
        eab: Option<(&str, &[u8])>,
        trust_root: Option<&str>,
    ) -> Result<(AcmeAccount, Zeroizing<String>), AcmeError> {
        let contact: Vec<String> = contacts.iter().map(|c| format!("mailto:{c}")).collect();
        let contact_refs: Vec<&str> = contact.iter().map(String::as_str).collect();
        let key = eab.map(|(kid, hmac)| ExternalAccountKey::new(kid.to_string(), hmac));
        let (account, creds) = builder(trust_root)?
            .create(
                &NewAccount {
                    contact: &contact_refs,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_string(),
                key.as_ref(),
            )
            .await?;
        let json = Zeroizing::new(serde_json::to_string(&creds).map_err(|e| AcmeError::Other(e.to_string()))?);
        Ok((
            AcmeAccount {
                account,
                credentials: json.clone(),
                trust_root: trust_root.map(str::to_string),
            },
            json,
        ))
    }

    /// Restores an account from stored credentials.
    pub async fn restore(credentials_json: &str, trust_root: Option<&str>) -> Result<AcmeAccount, AcmeError> {
        let creds: instant_acme::AccountCredentials = serde_json::from_str(credentials_json)
            .map_err(|e| AcmeError::Other(format!("bad account credentials: {e}")))?;
        Ok(AcmeAccount {
            account: builder(trust_root)?.from_credentials(creds).await?,
            credentials: Zeroizing::new(credentials_json.to_string()),
            trust_root: trust_root.map(str::to_string),
        })
    }

    /// The account URL at the CA.
    pub fn id(&self) -> &str {
        self.account.id()
    }

    /// Revokes a certificate (DER) issued to this account, with an RFC 5280 reason.
    pub async fn revoke(&self, cert_der: &[u8], reason: RevokeReason) -> Result<(), AcmeError> {
        let der = rustls::pki_types::CertificateDer::from(cert_der.to_vec());
        let reason = match reason {
            RevokeReason::Unspecified => instant_acme::RevocationReason::Unspecified,
            RevokeReason::KeyCompromise => instant_acme::RevocationReason::KeyCompromise,
            RevokeReason::AffiliationChanged => instant_acme::RevocationReason::AffiliationChanged,
            RevokeReason::Superseded => instant_acme::RevocationReason::Superseded,
            RevokeReason::CessationOfOperation => instant_acme::RevocationReason::CessationOfOperation,
        };
        self.account
            .revoke(&instant_acme::RevocationRequest {
                certificate: &der,
                reason: Some(reason),
            })
            .await?;
        Ok(())
    }

    /// The profiles the CA offers (name, description); empty when it has none.
    pub fn profiles(&self) -> Vec<(String, String)> {
        self.account
            .profiles()
            .map(|p| (p.name.to_string(), p.description.to_string()))
            .collect()
    }

    /// The CA's suggested renewal window for a certificate it issued (RFC 9773), or `None`
    /// when the CA does not offer renewal information.
    pub async fn renewal_info(&self, cert_der: &[u8]) -> Result<Option<RenewalWindow>, AcmeError> {
        let der = rustls::pki_types::CertificateDer::from(cert_der.to_vec());
        let id = CertificateIdentifier::try_from(&der)
            .map_err(|e| AcmeError::Other(format!("cannot identify the certificate for ARI: {e}")))?;
        match self.account.renewal_info(&id).await {
            Ok((info, retry)) => Ok(Some(RenewalWindow {
                start: to_chrono(info.suggested_window.start),
                end: to_chrono(info.suggested_window.end),
                explanation_url: info.explanation_url,
                retry_after: retry,
            })),
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Orders a certificate for `domains` (first = subject), solves the challenges with
    /// `solver`, and returns the certificate. `step` receives a line per ACME step.
    pub async fn issue(
        &self,
        domains: &[String],
        key: &CertKey,
        solver: &dyn Solver,
        options: &OrderOptions,
        step: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Issued, AcmeError> {
        let identifiers: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut new_order = NewOrder::new(&identifiers);
        if let Some(p) = options.profile.as_deref() {
            let offered = self.profiles();
            if !offered.iter().any(|(n, _)| n == p) {
                return Err(AcmeError::Invalid(if offered.is_empty() {
                    format!("profile '{p}' asked for, but this CA offers no profiles")
                } else {
                    format!(
                        "profile '{p}' is not offered by this CA; it offers: {}",
                        offered.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    )
                }));
            }
            new_order = new_order.profile(p);
        }
        let replaced = match options.replaces.as_deref() {
            Some(old) => {
                let der = rustls::pki_types::CertificateDer::from(old.to_vec());
                match CertificateIdentifier::try_from(&der) {
                    // instant-acme refuses `replaces` at a CA without renewal information.
                    Ok(id) if self.renewal_info(old).await.ok().flatten().is_some() => Some(id.into_owned()),
                    Ok(_) => {
                        step("the CA has no renewal information (ARI): ordering without `replaces`".into());
                        None
                    }
                    Err(e) => {
                        step(format!(
                            "the old certificate has no ARI identifier ({e}): ordering without `replaces`"
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        if let Some(id) = &replaced {
            new_order = new_order.replaces(id.clone());
        }
        let mut order = self.account.new_order(&new_order).await?;
        step(format!(
            "order created at the CA for {}{}{}",
            domains.join(", "),
            replaced
                .as_ref()
                .map(|id| format!(", replacing {id}"))
                .unwrap_or_default(),
            options
                .profile
                .as_deref()
                .map(|p| format!(", profile {p}"))
                .unwrap_or_default()
        ));
        let kind = solver.kind();
        let wanted = match kind {
            ChallengeKind::Dns01 => ChallengeType::Dns01,
            ChallengeKind::Http01 => ChallengeType::Http01,
        };
        // Collect the challenges of the pending authorizations.
        let mut pending = Vec::new();
        {
            let mut authzs = order.authorizations();
            while let Some(a) = authzs.next().await {
                let mut a = a?;
                match a.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => return Err(AcmeError::Invalid(format!("authorization is {other:?}"))),
                }
                let ident = a.identifier();
                let (domain, wildcard) = match ident.identifier {
                    Identifier::Dns(d) => (d.clone(), ident.wildcard),
                    other => return Err(AcmeError::Invalid(format!("unsupported identifier {other:?}"))),
                };
                let url = a.url().to_string();
                let ch = a.challenge(wanted.clone()).ok_or_else(|| AcmeError::Solver {
                    domain: domain.clone(),
                    reason: format!("the CA offers no {wanted:?} challenge (wildcards need dns-01)"),
                })?;
                let ka = ch.key_authorization();
                pending.push((
                    url,
                    Challenge {
                        domain,
                        wildcard,
                        token: ch.token.clone(),
                        key_authorization: ka.as_str().to_string(),
                        dns_value: ka.dns_value(),
                    },
                ));
            }
        }
        let challenges: Vec<Challenge> = pending.iter().map(|(_, c)| c.clone()).collect();
        let result = self
            .validate(&mut order, &pending, &challenges, wanted, solver, step)
            .await;
        if !challenges.is_empty() {
            match solver.cleanup(&challenges, step).await {
                Ok(()) => step(format!("removed {} challenge response(s)", challenges.len())),
                Err(e) => step(format!("could not remove the challenge responses: {e}")),
            }
        }
        result?;
        let csr = {
            let params =
                rcgen::CertificateParams::new(domains.to_vec()).map_err(|e| AcmeError::Other(e.to_string()))?;
            params
                .serialize_request(&key.key_pair()?)
                .map_err(|e| AcmeError::Other(format!("CSR: {e}")))?
        };
        order.finalize_csr(csr.der()).await?;
        step("finalized with the CSR".into());
        let pem = order
            .poll_certificate(
                &RetryPolicy::new()
                    .initial_delay(Duration::from_millis(50))
                    .timeout(Duration::from_secs(90)),
            )
            .await?;
        step("certificate downloaded".into());
        let pem = match options.preferred_chain.as_deref() {
            Some(want) if !super::acme_chains::is_preferred(&pem, want) => {
                self.preferred_chain(&mut order, pem, want, step).await
            }
            _ => pem,
        };
        let blocks = crate::domain::certpem::pem_blocks(pem.as_bytes()).map_err(AcmeError::Other)?;
        let mut certs = blocks.iter().filter(|b| b.label == "CERTIFICATE");
        let leaf = certs
            .next()
            .ok_or_else(|| AcmeError::Other("the CA sent no certificate".into()))?;
        let chain: String = certs
            .map(|b| crate::domain::certpem::pem_encode(&b.label, &b.der))
            .collect();
        Ok(Issued {
            cert_pem: crate::domain::certpem::pem_encode("CERTIFICATE", &leaf.der),
            chain_pem: chain,
        })
    }

    /// The certificate under the chain issued by `want`, if the CA offers one; else `pem` (the
    /// default chain), with a step saying so. Fetching alternates never fails the order.
    async fn preferred_chain(
        &self,
        order: &mut instant_acme::Order,
        pem: String,
        want: &str,
        step: &(dyn Fn(String) + Send + Sync),
    ) -> String {
        let default_top = super::acme_chains::top_issuer_cn(&pem).unwrap_or_else(|| "?".into());
        let Some(url) = order.state().certificate.clone() else {
            return pem;
        };
        let fetched = match super::acme_chains::ChainFetcher::new(&self.credentials, self.trust_root.as_deref()) {
            Ok(f) => f.preferred(&url, want).await,
            Err(e) => Err(e),
        };
        match fetched {
            Ok((Some(alt), _)) => {
                step(format!(
                    "using the alternate chain whose top certificate is issued by {want}"
                ));
                alt
            }
            Ok((None, seen)) => {
                step(format!(
                    "no chain issued by {want}: the CA offers {default_top} (default){}; keeping the default",
                    seen.iter().map(|s| format!(", {s}")).collect::<String>()
                ));
                pem
            }
            Err(e) => {
                step(format!(
                    "could not fetch the alternate chains ({e}); keeping the default ({default_top})"
                ));
                pem
            }
        }
    }

    async fn validate(
        &self,
        order: &mut instant_acme::Order,
        pending: &[(String, Challenge)],
        challenges: &[Challenge],
        wanted: ChallengeType,
        solver: &dyn Solver,
        step: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), AcmeError> {
        if !challenges.is_empty() {
            solver
                .present(challenges, step)
                .await
                .map_err(|reason| AcmeError::Solver {
                    domain: challenges
                        .iter()
                        .map(|c| c.domain.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    reason,
                })?;
            step(format!("{} challenge response(s) in place", challenges.len()));
            let mut authzs = order.authorizations();
            while let Some(a) = authzs.next().await {
                let mut a = a?;
                if !pending.iter().any(|(u, _)| u == a.url()) {
                    continue;
                }
                if let Some(mut ch) = a.challenge(wanted.clone()) {
                    ch.set_ready().await?;
                }
            }
            step("told the CA to validate".into());
        }
        let status = order
            .poll_ready(
                &RetryPolicy::new()
                    .initial_delay(Duration::from_millis(50))
                    .timeout(Duration::from_secs(120)),
            )
            .await?;
        if status != OrderStatus::Ready {
            let mut why = Vec::new();
            let mut authzs = order.authorizations();
            while let Some(Ok(a)) = authzs.next().await {
                for c in &a.challenges {
                    if let Some(e) = &c.error {
                        why.push(format!(
                            "{}: {} ({})",
                            a.identifier(),
                            e.detail.as_deref().unwrap_or(""),
                            e.r#type.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
            return Err(AcmeError::Invalid(format!(
                "the order is {status:?}: {}",
                if why.is_empty() {
                    "no reason given".into()
                } else {
                    why.join("; ")
                }
            )));
        }
        step("all authorizations valid; the order is ready".into());
        Ok(())
    }
}

/// Why a certificate is revoked (the RFC 5280 reasons a subscriber may give).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// No reason given.
    Unspecified,
    /// The private key leaked.
    KeyCompromise,
    /// The subject's details changed.
    AffiliationChanged,
    /// Replaced by a new certificate.
    Superseded,
    /// The names are no longer in use.
    CessationOfOperation,
}

impl RevokeReason {
    /// Parses `unspecified`, `keyCompromise`, `affiliationChanged`, `superseded`,
    /// `cessationOfOperation` (case and `-`/`_` ignored).
    pub fn parse(s: &str) -> Result<RevokeReason, String> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "unspecified" => Ok(RevokeReason::Unspecified),
            "keycompromise" => Ok(RevokeReason::KeyCompromise),
            "affiliationchanged" => Ok(RevokeReason::AffiliationChanged),
            "superseded" => Ok(RevokeReason::Superseded),
            "cessationofoperation" => Ok(RevokeReason::CessationOfOperation),
            _ => Err(format!(
                "unknown reason '{s}': use unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation"
            )),
        }
    }
}

/// How an order is placed.
#[derive(Debug, Clone, Default)]
pub struct OrderOptions {
    /// The certificate (DER) this order replaces (RFC 9773 `replaces`; used only when the CA
    /// offers renewal information).
    pub replaces: Option<Vec<u8>>,
    /// The ACME profile to ask for (the CA must offer it).
    pub profile: Option<String>,
    /// Keep the chain whose topmost certificate is issued by this common name, when the CA
    /// offers it among its alternate chains (certbot's `--preferred-chain`).
    pub preferred_chain: Option<String>,
}

/// A CA's suggested renewal window (RFC 9773).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalWindow {
    /// Start of the window.
    pub start: DateTime<Utc>,
    /// End of the window.
    pub end: DateTime<Utc>,
    /// The CA's page explaining the window.
    pub explanation_url: Option<String>,
    /// When to ask again (the CA's Retry-After).
    pub retry_after: Duration,
}

impl RenewalWindow {
    /// The moment to renew: uniformly random in the window (`unit` in `[0, 1)`), as RFC 9773
    /// §4.2 asks, so a fleet does not renew all at once. A window already over gives its end,
    /// which is in the past: renew now.
    pub fn choose(&self, unit: f64) -> DateTime<Utc> {
        let span = (self.end - self.start).num_seconds().max(0);
        let offset = ((span as f64) * unit.clamp(0.0, 1.0)) as i64;
        self.start + chrono::Duration::seconds(offset.min(span))
    }

    /// When to fetch the window again: the CA's Retry-After, kept between 1 minute and 1 day.
    pub fn next_check(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let secs = self.retry_after.as_secs().clamp(60, 86_400);
        now + chrono::Duration::seconds(secs as i64)
    }
}

fn to_chrono(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

/// What an order produced.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf certificate (PEM).
    pub cert_pem: String,
    /// The intermediates (PEM, may be empty).
    pub chain_pem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse_and_generate_keys_rcgen_can_sign_with() {
        for (name, spec) in [
            ("ec256", KeySpec::EcP256),
            ("EC384", KeySpec::EcP384),
            ("rsa2048", KeySpec::Rsa(2048)),
        ] {
            let s = KeySpec::parse(name).unwrap();
            assert_eq!(s, spec);
            let k = CertKey::generate(s).unwrap();
            k.key_pair().expect("signs");
            assert!(k.pem().starts_with("-----BEGIN PRIVATE KEY-----"));
            assert_eq!(KeySpec::parse(&s.name()).unwrap(), s);
        }
        assert!(KeySpec::parse("rsa1024").unwrap_err().contains("rsa3072"));
        assert!(CertKey::generate(KeySpec::Rsa(1024)).is_err());
    }

    #[test]
    fn the_renewal_moment_lies_inside_the_window_and_the_recheck_is_bounded() {
        let start = DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z").unwrap().to_utc();
        let w = RenewalWindow {
            start,
            end: start + chrono::Duration::days(2),
            explanation_url: None,
            retry_after: Duration::from_secs(5),
        };
        assert_eq!(w.choose(0.0), start);
        assert_eq!(w.choose(0.5), start + chrono::Duration::days(1));
        assert!(w.choose(0.999_999) < w.end && w.choose(0.999_999) > start);
        assert_eq!(w.choose(7.0), w.end, "out-of-range draws are clamped");
        assert_eq!(w.next_check(start), start + chrono::Duration::seconds(60));
        let long = RenewalWindow {
            retry_after: Duration::from_secs(30 * 86_400),
            ..w
        };
        assert_eq!(long.next_check(start), start + chrono::Duration::days(1));
    }

    #[test]
    fn rate_limits_and_network_trouble_are_transient_a_rejection_is_not() {
        let p = |k: &str| AcmeError::Problem {
            kind: k.into(),
            detail: String::new(),
            subs: String::new(),
        };
        assert!(p("urn:ietf:params:acme:error:rateLimited").is_transient());
        assert!(!p("urn:ietf:params:acme:error:rejectedIdentifier").is_transient());
        assert!(AcmeError::Other("connection reset".into()).is_transient());
    }
}
