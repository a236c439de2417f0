//! `dns-provider …`: DNS providers for dns-01 challenges.

use clap::Subcommand;

use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::service::{Actor, Services};

/// `dns-provider …`
#[derive(Debug, Subcommand)]
pub enum DnsProviderCmd {
    /// Your DNS providers.
    List,
    /// Add a DNS provider. Secrets are read from standard input: the TSIG secret for rfc2136,
    /// `key=value` lines for an HTTP API (cloudflare: api_token; aliyun: access_key_id,
    /// access_key_secret; dnspod: secret_id, secret_key; huaweicloud: access_key_id,
    /// secret_access_key), nothing for manual.
    Add {
        /// Name.
        name: String,
        /// rfc2136, manual, cloudflare, aliyun, dnspod or huaweicloud.
        #[arg(long = "type", default_value = "rfc2136")]
        provider_type: String,
        /// rfc2136: primary server, IP:port.
        #[arg(long)]
        server: Option<String>,
        /// Zone apex (rfc2136: the zone updated; others: where `dns-provider test` writes).
        #[arg(long)]
        zone: Option<String>,
        /// rfc2136: TSIG key name.
        #[arg(long)]
        key_name: Option<String>,
        /// rfc2136: hmac-sha256, hmac-sha384 or hmac-sha512.
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: String,
        /// `_acme-challenge.<name>` must be a CNAME into this zone (CNAME delegation).
        #[arg(long)]
        delegation_zone: Option<String>,
        /// Another setting, KEY=VALUE (e.g. endpoint=https://…, region=cn-north-4, ttl=600).
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Write, read back and remove a test TXT record.
    Test {
        /// Provider id.
        id: i64,
    },
}
/// `dns-provider list | add | test`.
pub(crate) async fn run(json: bool, s: &Services, a: &Actor, c: &DnsProviderCmd) -> CliResult<()> {
    match c {
        DnsProviderCmd::List => {
            views::list(json, &s.dns_provider_list(a).await?);
        }
        DnsProviderCmd::Add {
            name,
            provider_type,
            server,
            zone,
            key_name,
            algorithm,
            delegation_zone,
            settings,
        } => {
            use serde_json::{Map, Value};
            let mut set = Map::new();
            for kv in settings {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| CliError::Invalid(format!("--setting {kv}: write KEY=VALUE")))?;
                let v = match k.trim() {
                    "ttl" => Value::from(
                        v.trim()
                            .parse::<u64>()
                            .map_err(|_| CliError::Invalid(format!("--setting {kv}: ttl is a number")))?,
                    ),
                    _ => Value::from(v.trim()),
                };
                set.insert(k.trim().to_string(), v);
            }
            for (k, v) in [
                ("server", server),
                ("zone", zone),
                ("key_name", key_name),
                ("delegation_zone", delegation_zone),
            ] {
                if let Some(v) = v {
                    set.insert(k.into(), Value::from(v.as_str()));
                }
            }
            if provider_type == "rfc2136" {
                set.insert("algorithm".into(), Value::from(algorithm.as_str()));
            }
            let mut input = zeroize::Zeroizing::new(String::new());
            if provider_type != "manual" {
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
                    .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
            }
            let mut secrets = Map::new();
            if provider_type == "rfc2136" {
                secrets.insert("tsig_secret".into(), Value::from(input.trim()));
            } else {
                for line in input
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let (k, v) = line
                        .split_once('=')
                        .ok_or_else(|| CliError::Invalid("secrets on standard input are KEY=VALUE lines".into()))?;
                    secrets.insert(k.trim().to_string(), Value::from(v.trim()));
                }
            }
            let r = s.dns_provider_add(a, name, provider_type, &set, &secrets).await?;
            if json {
                views::print_json(&r);
            } else {
                println!("added DNS provider {} (id {}, {})", r.name, r.id, r.provider_type);
            }
        }
        DnsProviderCmd::Test { id } => {
            println!("{}", s.dns_provider_test(a, *id).await?);
        }
    }
    Ok(())
}
