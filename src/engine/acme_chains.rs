//! Preferred chains: a CA may offer the same certificate under several chains (RFC 8555
//! §7.4.2, `Link: <…>;rel="alternate"` on the certificate download). instant-acme returns the
//! default one only, so certdeck fetches the alternates itself with signed POST-as-GET
//! requests (JWS ES256 with the account key, as RFC 8555 §6.3 asks) and keeps the chain whose
//! topmost certificate was issued by the preferred name (certbot's `--preferred-chain`).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// The issuer common name of the topmost certificate of a PEM chain (leaf first).
pub fn top_issuer_cn(chain_pem: &str) -> Option<String> {
    let ders = crate::domain::certpem::certificates_der(chain_pem.as_bytes()).ok()?;
    let top = ders.last()?;
    crate::domain::certpem::summarize(top, chrono::Utc::now())
        .ok()?
        .issuer_cn
}

/// Whether `chain_pem` is the preferred one.
pub fn is_preferred(chain_pem: &str, preferred: &str) -> bool {
    top_issuer_cn(chain_pem).is_some_and(|cn| cn.trim().eq_ignore_ascii_case(preferred.trim()))
}

/// An account able to sign POST-as-GET requests (kid + P-256 key from its credentials).
pub struct ChainFetcher {
    http: reqwest::Client,
    kid: String,
    key: EcdsaKeyPair,
    directory: String,
}

/// The `rel="alternate"` targets of a response's Link headers.
fn alternates(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|l| {
            l.split(';')
                .skip(1)
                .any(|p| p.trim().replace(' ', "").eq_ignore_ascii_case("rel=\"alternate\""))
        })
        .filter_map(|l| {
            let l = l.trim();
            let start = l.find('<')? + 1;
            let end = l[start..].find('>')? + start;
            Some(l[start..end].to_string())
        })
        .collect()
}

fn nonce_of(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("replay-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl ChainFetcher {
    /// From instant-acme's credentials JSON (`id`, `key_pkcs8`, `directory`).
    pub fn new(credentials_json: &str, trust_root: Option<&str>) -> Result<ChainFetcher, String> {
        let v: Value = serde_json::from_str(credentials_json).map_err(|e| format!("account credentials: {e}"))?;
        let kid = v["id"].as_str().ok_or("account credentials without id")?.to_string();
        let directory = v["directory"]
            .as_str()
            .ok_or("account credentials without a directory URL")?
            .to_string();
        let pkcs8 = B64
            .decode(v["key_pkcs8"].as_str().ok_or("account credentials without a key")?)
            .map_err(|_| "the account key is not base64url".to_string())?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| "the account key is not an ECDSA P-256 key".to_string())?;
        let mut b = super::http::client_builder(Duration::from_secs(30));
        if let Some(pem) = trust_root {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("trust root: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(ChainFetcher {
            http,
            kid,
            key,
            directory,
        })
    }

    async fn fresh_nonce(&self) -> Result<String, String> {
        let dir: Value = self
            .http
            .get(&self.directory)
            .send()
            .await
            .map_err(|e| format!("directory: {e}"))?
            .json()
            .await
            .map_err(|e| format!("directory: {e}"))?;
        let url = dir["newNonce"].as_str().ok_or("the directory has no newNonce")?;
        let r = self.http.head(url).send().await.map_err(|e| format!("newNonce: {e}"))?;
        nonce_of(&r).ok_or_else(|| "the CA sent no nonce".to_string())
    }

    /// A signed POST-as-GET of `url`.
    async fn post_as_get(&self, url: &str, nonce: &str) -> Result<reqwest::Response, String> {
        let protected = B64.encode(json!({"alg": "ES256", "kid": self.kid, "nonce": nonce, "url": url}).to_string());
        let signing_input = format!("{protected}.");
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| "signing failed".to_string())?;
        let body = json!({"protected": protected, "payload": "", "signature": B64.encode(sig.as_ref())});
        self.http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/jose+json")
            .header(reqwest::header::ACCEPT, "application/pem-certificate-chain")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))
    }

    /// The certificate at `cert_url` under the chain whose topmost certificate was issued by
    /// `preferred`, if the CA offers one; `None` when no chain matches. Also returns every
    /// top issuer seen, for the log.
    pub async fn preferred(&self, cert_url: &str, preferred: &str) -> Result<(Option<String>, Vec<String>), String> {
        let mut nonce = self.fresh_nonce().await?;
        let first = self.post_as_get(cert_url, &nonce).await?;
        if !first.status().is_success() {
            return Err(format!("{cert_url}: HTTP {}", first.status()));
        }
        nonce = nonce_of(&first).unwrap_or(nonce);
        let links = alternates(first.headers());
        let mut seen = Vec::new();
        for url in links {
            let r = self.post_as_get(&url, &nonce).await?;
            nonce = match nonce_of(&r) {
                Some(n) => n,
                None => self.fresh_nonce().await?,
            };
            if !r.status().is_success() {
                return Err(format!("{url}: HTTP {}", r.status()));
            }
            let pem = r.text().await.map_err(|e| format!("{url}: {e}"))?;
            let top = top_issuer_cn(&pem).unwrap_or_else(|| "?".into());
            if is_preferred(&pem, preferred) {
                return Ok((Some(pem), seen));
            }
            seen.push(top);
        }
        Ok((None, seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_name_the_alternates_only() {
        let mut h = reqwest::header::HeaderMap::new();
        h.append(
            reqwest::header::LINK,
            "<https://ca.test/dir>;rel=\"index\", <https://ca.test/cert/1/1>;rel=\"alternate\""
                .parse()
                .unwrap(),
        );
        h.append(
            reqwest::header::LINK,
            "<https://ca.test/cert/1/2>; rel=\"alternate\"".parse().unwrap(),
        );
        assert_eq!(alternates(&h), ["https://ca.test/cert/1/1", "https://ca.test/cert/1/2"]);
    }

    #[test]
    fn the_preferred_chain_is_matched_on_the_topmost_issuer() {
        let mut root_p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        root_p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        root_p
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Example Root X2");
        let root_k = rcgen::KeyPair::generate().unwrap();
        let root = root_p.self_signed(&root_k).unwrap();
        let mut mid_p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        mid_p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        mid_p.distinguished_name.push(rcgen::DnType::CommonName, "Example E1");
        let mid_k = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::new(root_p, root_k);
        let mid = mid_p.signed_by(&mid_k, &issuer).unwrap();
        let leaf_k = rcgen::KeyPair::generate().unwrap();
        let mid_issuer = rcgen::Issuer::new(
            {
                let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                p.distinguished_name.push(rcgen::DnType::CommonName, "Example E1");
                p
            },
            mid_k,
        );
        let leaf = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .unwrap()
            .signed_by(&leaf_k, &mid_issuer)
            .unwrap();
        let chain = format!("{}{}", leaf.pem(), mid.pem());
        assert_eq!(top_issuer_cn(&chain).as_deref(), Some("Example Root X2"));
        assert!(is_preferred(&chain, "example root x2"));
        assert!(!is_preferred(&chain, "Example E1"));
        drop(root);
    }
}
