//! `ca …`: ACME certificate authorities.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::error::CliResult;
use crate::cli::views;
use crate::service::{Actor, Services};

/// `ca …`
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// The built-in CAs and yours.
    List,
    /// Add a CA by its ACME directory URL (private CA, step-ca, Pebble).
    Add {
        /// Name (used as `--ca`).
        name: String,
        /// ACME directory URL (https).
        #[arg(long)]
        directory: String,
        /// PEM file of a root that signs the directory's TLS certificate.
        #[arg(long, value_name = "FILE")]
        trust_root: Option<PathBuf>,
        /// The CA requires External Account Binding.
        #[arg(long)]
        eab: bool,
        /// EAB key id from the CA's console (with --eab-hmac-stdin).
        #[arg(long, requires = "eab_hmac_stdin")]
        eab_kid: Option<String>,
        /// Read the EAB HMAC key (base64url) from standard input.
        #[arg(long, requires = "eab_kid")]
        eab_hmac_stdin: bool,
    },
}
/// `ca list | add`.
pub(crate) async fn run(json: bool, s: &Services, a: &Actor, c: &CaCmd) -> CliResult<()> {
    match c {
        CaCmd::List => {
            views::list(json, &s.ca_list(a).await?);
        }
        CaCmd::Add {
            name,
            directory,
            trust_root,
            eab,
            eab_kid,
            eab_hmac_stdin,
        } => {
            let hmac = if *eab_hmac_stdin {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| format!("cannot read the EAB HMAC key from standard input: {e}"))?;
                Some(zeroize::Zeroizing::new(t.trim().to_string()))
            } else {
                None
            };
            let pem = match trust_root {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
                None => None,
            };
            let binding = match (eab_kid, &hmac) {
                (Some(k), Some(h)) => Some((k.as_str(), h.as_str())),
                _ => None,
            };
            let r = s.ca_add(a, name, directory, pem.as_deref(), *eab, binding).await?;
            if json {
                views::print_json(&r);
            } else {
                println!("added CA {} ({})", r.name, r.directory_url);
            }
        }
    }
    Ok(())
}
