//! `cert …`: request, renew, revoke, list, show, import, export, update, rm and migrate.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::task::run_task;
use crate::cli::context::PageArgs;
use crate::cli::context::{page, read_file, read_stdin_secret, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::certs::CertDetail;
use crate::cli::views::{opt, print_json, when};
use crate::domain::acme_clients::AcmeTool;
use crate::service::acme::RequestInput;
use crate::service::acme_migrate::{MigrateOutcome, MigrateSource};
use crate::service::certificates::{CertChanges, Export, ImportInput};
use crate::service::query::{CertFilter, CertOrder, ListFilter, Terms};
use crate::service::{Actor, Services};

/// How a certificate is obtained from an ACME CA (`cert request`, `cert renewal-setup`).
#[derive(Debug, Args)]
pub struct IssuanceArgs {
    /// CA: a preset (see `ca list`) or a CA added with `ca add`.
    #[arg(long, default_value = "letsencrypt")]
    pub ca: String,
    /// Account contact (default: your user's e-mail).
    #[arg(long)]
    pub email: Option<String>,
    /// ec256, ec384, rsa2048, rsa3072 or rsa4096.
    #[arg(long, default_value = "ec256")]
    pub key: String,
    /// dns-01 or http-01.
    #[arg(long, default_value = "dns-01")]
    pub challenge: String,
    /// DNS provider id for dns-01 (see `dns-provider list`).
    #[arg(long)]
    pub dns_provider: Option<i64>,
    /// http-01: address of the standalone responder on this host.
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http_listen: String,
    /// http-01 through this server's document root over SSH (server id; the root of the
    /// discovered site serving the names unless --webroot).
    #[arg(long = "http-server")]
    pub http_server: Option<i64>,
    /// http-01 over SSH: the document root serving the names on that server.
    #[arg(long)]
    pub webroot: Option<String>,
    /// Keep the private key when renewing.
    #[arg(long)]
    pub reuse_key: bool,
    /// ACME profile to ask for (the CA must offer it, e.g. Let's Encrypt's `shortlived`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Keep the alternate chain whose top certificate is issued by this name (e.g. "ISRG Root X1").
    #[arg(long)]
    pub preferred_chain: Option<String>,
}
impl IssuanceArgs {
    /// The service's request input (names added by the caller).
    pub fn input(&self) -> crate::service::acme::RequestInput {
        crate::service::acme::RequestInput {
            ca: self.ca.clone(),
            email: self.email.clone(),
            key: Some(self.key.clone()),
            challenge: self.challenge.clone(),
            dns_provider_id: self.dns_provider,
            http_listen: Some(self.http_listen.clone()),
            http_server_id: self.http_server,
            webroot: self.webroot.clone(),
            key_reuse: self.reuse_key,
            profile: self.profile.clone(),
            preferred_chain: self.preferred_chain.clone(),
            ..Default::default()
        }
    }
}
/// `cert …`
#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// Request a certificate from an ACME CA (a certificate_issue task; runs now unless --no-wait).
    Request {
        /// A name for the certificate (repeat: the first is the subject; `*.` needs dns-01).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        #[command(flatten)]
        how: IssuanceArgs,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Queue the request for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Set up renewal through ACME for a certificate obtained elsewhere (imported or migrated):
    /// how it is obtained from now on, for exactly its names.
    RenewalSetup {
        /// Certificate id.
        id: i64,
        #[command(flatten)]
        how: IssuanceArgs,
    },
    /// Renew a certificate obtained here, exactly as it was obtained (runs now unless --no-wait).
    Renew {
        /// Certificate id.
        id: i64,
        /// Queue the renewal for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Revoke a certificate at its CA and mark it revoked.
    Revoke {
        /// Certificate id.
        id: i64,
        /// unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// List certificates.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        certificate_type: Option<String>,
        /// Only this main domain.
        #[arg(long)]
        domain: Option<String>,
        /// Only those expiring within this many days, soonest first.
        #[arg(long)]
        expiring_within: Option<i64>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a certificate.
    Show {
        /// Certificate id.
        id: i64,
        /// Also print the certificate PEM.
        #[arg(long)]
        pem: bool,
    },
    /// Import a certificate with its private key.
    Import {
        /// Certificate PEM (leaf first; may include the chain).
        #[arg(long, value_name = "PATH")]
        cert: PathBuf,
        /// Private key PEM; `-` reads it from standard input. A file on the certdeck host is
        /// read only for admins and the users listed in ssh.operator_credentials_users.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// Separate chain PEM.
        #[arg(long, value_name = "PATH")]
        chain: Option<PathBuf>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Export a certificate (and, with --reveal-key, its private key).
    Export {
        /// Certificate id.
        id: i64,
        /// Write files into this directory (cert.pem, chain.pem, fullchain.pem[, privkey.pem]).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Include the private key.
        #[arg(long)]
        reveal_key: bool,
    },
    /// Change name, notes, auto-renew or the renewal window.
    Update {
        /// Certificate id.
        id: i64,
        /// Name ("" clears).
        #[arg(long)]
        name: Option<String>,
        /// Notes ("" clears).
        #[arg(long)]
        notes: Option<String>,
        /// Renew automatically (true/false).
        #[arg(long)]
        auto_renew: Option<bool>,
        /// Days before expiry to renew.
        #[arg(long)]
        renew_before_days: Option<i64>,
    },
    /// Delete a certificate.
    Rm {
        /// Certificate id.
        id: i64,
    },
    /// Import every certificate certbot or acme.sh manages, with its renewal settings where they map.
    Migrate {
        /// certbot or acme.sh.
        #[arg(long, value_name = "TOOL")]
        from: crate::domain::acme_clients::AcmeTool,
        /// certbot's config dir (/etc/letsencrypt) or acme.sh's home (~/.acme.sh); this host's
        /// directories are for admins only.
        #[arg(long, value_name = "PATH")]
        dir: String,
        /// Read the directory on this server (over SFTP, as its SSH user) instead of this host.
        #[arg(long, value_name = "ID")]
        server: Option<i64>,
    },
}
/// Runs a `cert` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &CertCmd) -> CliResult<()> {
    let json = ctx.json;
    match c {
        CertCmd::Request {
            domains,
            how,
            name,
            no_wait,
        } => {
            let input = RequestInput {
                domains: domains.clone(),
                name: name.clone(),
                ..how.input()
            };
            request(json, s, a, &input, *no_wait).await?;
        }
        CertCmd::RenewalSetup { id, how } => {
            let input = how.input();
            let r = s.cert_renewal_setup(a, *id, &input).await?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "certificate {id} renews through {} ({}, {} key); turn renewal on with `certdeck cert update {id} --auto-renew true` once the old tool is stopped",
                    r.ca, r.challenge_type, r.key_type
                );
            }
        }
        CertCmd::Renew { id, no_wait } => renew(json, s, a, *id, *no_wait).await?,
        CertCmd::Revoke { id, reason } => {
            let c = s.cert_revoke(a, *id, reason).await?;
            if json {
                print_json(&c);
            } else {
                println!("certificate {} ({}) is revoked at its CA", c.id, c.main_domain);
            }
        }
        CertCmd::List {
            status,
            certificate_type,
            domain,
            expiring_within,
            page: p,
        } => {
            let terms = Terms::default()
                .with("status", status.as_ref())
                .with("type", certificate_type.as_ref())
                .with("domain", domain.as_ref())
                .with("expires_within", expiring_within.as_ref());
            let mut f = CertFilter::from_terms(&terms, chrono::Utc::now())?;
            if expiring_within.is_some() {
                f.order = CertOrder::Expiry;
            }
            views::list(json, &s.cert_list(a, &f, page(p)).await?);
        }
        CertCmd::Show { id, pem } => {
            let certificate = s.cert_get(a, *id).await?;
            let deployments = s.deployment_list(a, Some(*id), None).await?;
            let notes = s.cert_notes(a, *id).await?;
            let pem = if *pem {
                Some(s.cert_export(a, *id, false).await?)
            } else {
                None
            };
            let d = CertDetail {
                certificate,
                notes,
                deployments,
                pem,
            };
            if json {
                print_json(&d);
            } else {
                print!("{}", d.render());
            }
        }
        CertCmd::Import {
            cert,
            key,
            chain,
            name,
            notes,
        } => {
            let input = ImportInput {
                name: name.clone(),
                certificate: read_file(cert, "certificate")?,
                // The key file is read through the service's rule (admins and allowed users,
                // audited); anyone may give it on standard input.
                private_key: if key.as_os_str() == "-" {
                    read_stdin_secret("private key")?.into_bytes()
                } else {
                    s.read_host_private_key_file(a, key).await?.into_bytes()
                },
                chain: chain.as_deref().map(|p| read_file(p, "chain")).transpose()?,
                notes: notes.clone(),
            };
            let r = s.cert_import(a, &input).await?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "imported certificate {} for {} ({} domain(s), expires {}, id {})",
                    opt(&r.name),
                    r.main_domain,
                    r.domain_list().len(),
                    when(r.expires_at),
                    r.id
                );
            }
        }
        CertCmd::Export {
            id,
            out_dir,
            reveal_key,
        } => {
            let e = s.cert_export(a, *id, *reveal_key).await?;
            match out_dir {
                Some(dir) => write_export(dir, &e)?,
                None if json => print_json(&e),
                None => print!("{}", views::certs::export_text(&e)),
            }
        }
        CertCmd::Update {
            id,
            name,
            notes,
            auto_renew,
            renew_before_days,
        } => {
            let ch = CertChanges {
                name: name.clone(),
                notes: notes.clone(),
                auto_renew: *auto_renew,
                renew_before_days: *renew_before_days,
            };
            let r = s.cert_update(a, *id, &ch).await?;
            println!("updated certificate {} ({})", r.id, r.main_domain);
        }
        CertCmd::Rm { id } => {
            s.cert_delete(a, *id).await?;
            println!("deleted certificate {id}");
        }
        CertCmd::Migrate { from, dir, server } => migrate(json, s, a, *from, dir, *server).await?,
    }
    Ok(())
}

/// Writes an export as files into `dir` (the key 0600).
fn write_export(dir: &Path, e: &Export) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let write = |name: &str, text: &str, private: bool| -> CliResult<()> {
        let path = dir.join(name);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(if private { 0o600 } else { 0o644 });
        }
        use std::io::Write;
        o.open(&path)
            .and_then(|mut f| {
                // An existing file keeps its mode on open: tighten it before the key goes in.
                #[cfg(unix)]
                if private {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                f.write_all(text.as_bytes())
            })
            .map_err(|err| CliError::Failed(format!("cannot write {}: {err}", path.display())))
    };
    write("cert.pem", &e.certificate_pem, false)?;
    write("chain.pem", e.chain_pem.as_deref().unwrap_or_default(), false)?;
    write("fullchain.pem", &e.fullchain_pem, false)?;
    if let Some(k) = &e.private_key_pem {
        write("privkey.pem", k, true)?;
    }
    println!("wrote {}", dir.display());
    Ok(())
}

/// `cert request …`: queue the order and (unless `--no-wait`) run it here.
async fn request(json: bool, s: &Services, a: &Actor, input: &RequestInput, no_wait: bool) -> CliResult<()> {
    let (c, t) = s.cert_request(a, input).await?;
    if no_wait {
        println!("certificate {} requested; certificate_issue task {} queued", c.id, t.id);
        return Ok(());
    }
    run_task(json, s, a, t.id).await?;
    if !json {
        let c = s.cert_get(a, c.id).await?;
        println!(
            "certificate {} ({}) is {}: issued by {}, expires {}",
            c.id,
            c.main_domain,
            c.status,
            opt(&c.issuer),
            when(c.expires_at)
        );
    }
    Ok(())
}

/// `cert renew ID [--no-wait]`.
async fn renew(json: bool, s: &Services, a: &Actor, id: i64, no_wait: bool) -> CliResult<()> {
    let t = s.cert_renew(a, id).await?;
    if no_wait {
        println!("certificate_renew task {} queued", t.id);
        return Ok(());
    }
    run_task(json, s, a, t.id).await?;
    if !json {
        let c = s.cert_get(a, id).await?;
        println!(
            "certificate {} ({}) renewed: expires {}",
            c.id,
            c.main_domain,
            when(c.expires_at)
        );
    }
    Ok(())
}

/// `cert migrate --from certbot|acme.sh --dir PATH [--server ID]`: runs a migration and prints
/// its report; fails (exit 1) when a lineage failed.
async fn migrate(
    json: bool,
    s: &Services,
    a: &Actor,
    tool: AcmeTool,
    dir: &str,
    server_id: Option<i64>,
) -> CliResult<()> {
    let source = MigrateSource {
        tool,
        dir: dir.to_string(),
        server_id,
    };
    let report = s.acme_migrate(a, &source).await?;
    if json {
        print_json(&report);
    } else {
        print!("{}", views::certs::migrate_report_text(&report));
    }
    match report.count(MigrateOutcome::Failed) {
        0 => Ok(()),
        n => Err(CliError::Failed(format!(
            "{n} lineage(s) could not be migrated (see above)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_migrate_command_line_parses() {
        use clap::Parser;
        let c = crate::cli::Cli::try_parse_from([
            "certdeck",
            "cert",
            "migrate",
            "--from",
            "acme.sh",
            "--dir",
            "/root/.acme.sh",
            "--server",
            "3",
        ])
        .unwrap();
        let s = format!("{:?}", c.command);
        assert!(
            s.contains("Migrate") && s.contains("AcmeSh") && s.contains("Some(3)"),
            "{s}"
        );
        let e = crate::cli::Cli::try_parse_from(["certdeck", "cert", "migrate", "--from", "lego", "--dir", "/x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("use certbot or acme.sh"), "{e}");
    }
}
