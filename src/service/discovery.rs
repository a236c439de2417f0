//! The `server_check` task: probe a server over SSH (OS, web server and version) and discover its
//! web server configuration — every config file reached from the main one through includes, the
//! sites they define and the certificate each TLS site serves from disk.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::remote::{server_label, RemoteError};
use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use super::tasks::enqueue::TaskInput;
use super::{Actor, Services};
use crate::domain::webconf::{self, Flavor};
use crate::domain::{ConfigType, LogLevel, ServerStatus, ServerType, TaskType};
use crate::engine::ssh::{Bounded, Sftp, SshSession};
use crate::errors::ServiceResult;
use crate::store::discovery::{self as store, FoundConfig, ProbeFacts, SiteRow};
use crate::store::servers::ServerRow;
use crate::store::tasks::TaskRow;

/// The `server_configs.config_content` TEXT column holds at most this many bytes.
pub const CONFIG_CONTENT_MAX: usize = 65_535;

// Bounds of one discovery. A managed server's files are untrusted input: past any of these the
// check fails with a message naming the bound and the file, and the server's stored configs and
// sites stay as the last good check left them. Parsing has its own bounds,
// `webconf::Limits::DEFAULT` (1024 file loads, includes 16 deep, 32 MiB parsed, 200 000
// directives, 20 s), counted per load: a file included twice counts twice.

/// Distinct config files read per discovery.
pub const MAX_FILES: usize = 400;
/// Bytes of one config file (read through a bounded reader, whatever size the server reports).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes of one certificate file; a larger one is not a certificate (the site gets an error).
pub const MAX_CERT_BYTES: u64 = 1024 * 1024;
/// Distinct certificate files read per discovery.
pub const MAX_CERT_FILES: usize = 1000;
/// Sites stored per discovery.
pub const MAX_SITES: usize = 5000;
/// Bytes read over SFTP per discovery: config and certificate files together.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// Distinct include patterns expanded over SFTP per discovery (each costs round trips).
pub const MAX_PATTERNS: usize = 2000;
/// Sudoers drop-ins are checked for the reload rule when privilege mode is sudo.
const SUDOERS_DIR: &str = "/etc/sudoers.d";

/// Runs `server_check` tasks.
pub struct ServerCheckRunner;

impl TaskRunner for ServerCheckRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().server_check_run(ctx).await })
    }
}

/// PATH for probe commands: a non-root login shell often lacks the sbin directories.
const PATH_PREFIX: &str = "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/nginx/sbin\"; export PATH; ";

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `/etc/os-release` → (name, version).
pub fn parse_os_release(text: &str) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut id = None;
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "NAME" => name = Some(v),
            "ID" => id = Some(v),
            "VERSION_ID" => version = Some(v),
            _ => {}
        }
    }
    (name.or(id).map(|s| clip(&s, 50)), version.map(|s| clip(&s, 50)))
}

/// The version token of `nginx -v` / `apache2 -v` output (`nginx/1.22.1`, `Apache/2.4.62 (Debian)`).
pub fn parse_web_version(text: &str) -> Option<String> {
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("nginx version:") {
            return Some(clip(rest.trim(), 50));
        }
        if let Some(rest) = l.strip_prefix("Server version:") {
            return Some(clip(rest.trim(), 50));
        }
    }
    None
}

impl Services {
    /// Queues a `server_check` of a server the actor may see: probe it over SSH and discover its
    /// web server configuration. `max_attempts` is the runs allowed for transient failures (an
    /// interactive caller that waits for the result gives 1, to hear of a failure at once).
    pub async fn server_check_enqueue(
        &self,
        actor: &Actor,
        server_id: i64,
        max_attempts: i32,
    ) -> ServiceResult<TaskRow> {
        let input = TaskInput {
            task_type: Some(TaskType::ServerCheck),
            priority: Some(8),
            target_type: Some("server".into()),
            target_id: Some(server_id),
            max_attempts: Some(max_attempts),
            ..Default::default()
        };
        self.task_enqueue(actor, &input).await
    }

    async fn server_check_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let id = ctx
            .task()
            .target_id
            .ok_or_else(|| TaskFailure::permanent("server_check needs a server id"))?;
        let server = crate::store::servers::get_server(self.db(), id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("server {id} no longer exists")))?;
        let label = server_label(&server);
        ctx.log(
            LogLevel::Info,
            &format!(
                "connecting to {label} as {}",
                server.username.as_deref().unwrap_or("root")
            ),
            None,
        )
        .await?;
        let session = match self.ssh_connect(&server).await {
            Ok(s) => s,
            // A token server is not broken, just not ours to reach: leave its status alone.
            Err(e @ RemoteError::NotSsh(_)) if server.auth_type == crate::domain::AuthType::Token => {
                return Err(e.into());
            }
            Err(e) => {
                store::record_check(self.db(), id, ServerStatus::Error, None).await?;
                return Err(e.into());
            }
        };
        ctx.log(
            LogLevel::Info,
            &format!("connected; host key {}", session.host_key_fingerprint()),
            None,
        )
        .await?;
        ctx.progress(20).await?;
        let out = self.check_with(ctx, &server, &session).await;
        session.close().await;
        match out {
            Ok(v) => Ok(v),
            Err(e) => {
                if !matches!(e, TaskFailure::Stopped) {
                    store::record_check(self.db(), id, ServerStatus::Error, None).await?;
                }
                Err(e)
            }
        }
    }

    async fn check_with(
        &self,
        ctx: &TaskContext,
        server: &ServerRow,
        session: &SshSession,
    ) -> Result<Value, TaskFailure> {
        let os = session
            .exec("cat /etc/os-release 2>/dev/null")
            .await
            .map_err(RemoteError::from)?;
        let (os_type, os_version) = parse_os_release(&os.stdout);
        let nginx = session
            .exec(&format!("{PATH_PREFIX}nginx -v 2>&1"))
            .await
            .map_err(RemoteError::from)?;
        let apache = session
            .exec(&format!(
                "{PATH_PREFIX}(apache2 -v || apachectl -v || httpd -v || apache2ctl -v) 2>/dev/null"
            ))
            .await
            .map_err(RemoteError::from)?;
        let nginx_v = (nginx.code == 0).then(|| parse_web_version(&nginx.stdout)).flatten();
        let apache_v = (apache.code == 0).then(|| parse_web_version(&apache.stdout)).flatten();
        let detected = match (&nginx_v, &apache_v, server.server_type) {
            (Some(_), Some(_), t) if t != ServerType::Other => Some(t),
            (Some(_), None, _) => Some(ServerType::Nginx),
            (None, Some(_), _) => Some(ServerType::Apache),
            _ => None,
        };
        let kind = detected.unwrap_or(server.server_type);
        let web_version = match kind {
            ServerType::Nginx => nginx_v.clone(),
            ServerType::Apache => apache_v.clone(),
            ServerType::Other => nginx_v.clone().or(apache_v.clone()),
        };
        ctx.log(
            LogLevel::Info,
            &format!(
                "{} {}; web server: {}",
                os_type.as_deref().unwrap_or("unknown OS"),
                os_version.as_deref().unwrap_or(""),
                match (&detected, &web_version) {
                    (Some(t), Some(v)) => format!("{t} ({v})"),
                    _ => "none found (nginx -v / apache2 -v / httpd -v)".into(),
                }
            ),
            None,
        )
        .await?;
        let facts = ProbeFacts {
            os_type,
            os_version,
            web_server_version: web_version.clone(),
            server_type: detected,
        };
        ctx.progress(40).await?;
        ctx.checkpoint().await?;

        let flavor = match kind {
            ServerType::Nginx => Some(Flavor::Nginx),
            ServerType::Apache => Some(Flavor::Apache),
            ServerType::Other => None,
        };
        let sftp = session.sftp().await.map_err(RemoteError::from)?;
        let mut configs = Vec::new();
        let mut sites = Vec::new();
        if let Some(flavor) = flavor {
            let (c, s) = self.discover(ctx, server, &sftp, flavor).await?;
            configs = c;
            sites = s;
        }
        ctx.progress(80).await?;
        if server.privilege_mode == crate::domain::PrivilegeMode::Sudo {
            configs.extend(self.check_sudo(ctx, server, session, &sftp).await?);
        }
        store::save_discovery(self.db(), server.id, &configs, &sites).await?;
        store::record_check(self.db(), server.id, ServerStatus::Active, Some(&facts)).await?;
        let tls = sites.iter().filter(|s| s.tls).count();
        ctx.log(
            LogLevel::Info,
            &format!(
                "found {} config files, {} sites ({tls} with TLS)",
                configs.len(),
                sites.len()
            ),
            None,
        )
        .await?;
        ctx.progress(100).await?;
        Ok(json!({
            "os_type": facts.os_type, "os_version": facts.os_version, "web_server_version": web_version,
            "server_type": kind, "configs": configs.len(), "sites": sites.len(), "tls_sites": tls,
            "host_key": session.host_key_fingerprint(),
        }))
    }

    /// Reads the main config and everything it includes; parses sites; reads their certificates.
    async fn discover(
        &self,
        ctx: &TaskContext,
        server: &ServerRow,
        sftp: &Sftp<'_>,
        flavor: Flavor,
    ) -> Result<(Vec<FoundConfig>, Vec<SiteRow>), TaskFailure> {
        let candidates: Vec<String> = match &server.config_root {
            Some(p) => vec![p.clone()],
            None => webconf::default_main_configs(flavor)
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let mut main = None;
        for c in &candidates {
            if sftp
                .stat(c)
                .await
                .map_err(RemoteError::from)?
                .is_some_and(|s| !s.is_dir)
            {
                main = Some(c.clone());
                break;
            }
        }
        let Some(main) = main else {
            ctx.log(
                LogLevel::Warning,
                &format!(
                    "no {flavor:?} main config found (tried {}); set the server's config root",
                    candidates.join(", ")
                ),
                None,
            )
            .await?;
            return Ok((Vec::new(), Vec::new()));
        };
        let mut root = parent_dir(&main);
        let config_type = match flavor {
            Flavor::Nginx => ConfigType::Nginx,
            Flavor::Apache => ConfigType::Apache,
        };
        let label = server_label(server);
        let stop = |what: String| TaskFailure::permanent(format!("discovery on {label} stopped: {what}"));
        let mut queue = vec![main.clone()];
        let mut seen = BTreeSet::new();
        let mut configs = Vec::new();
        let mut parsed = Vec::new();
        let mut total: u64 = 0;
        let mut expanded: HashMap<String, Vec<String>> = HashMap::new();
        // One budget for the per-file include scans: every file counts once.
        let mut scan = webconf::Budget::new(webconf::Limits::DEFAULT);
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            if seen.len() > MAX_FILES {
                return Err(stop(format!(
                    "more than {MAX_FILES} config files (MAX_FILES), at {path}"
                )));
            }
            let data = match sftp.read_bounded(&path, MAX_FILE_BYTES).await {
                Ok(Bounded::Data(d)) => d,
                Ok(Bounded::TooLarge) => {
                    return Err(stop(format!(
                        "{path} is larger than {} MiB, the limit of one config file (MAX_FILE_BYTES)",
                        MAX_FILE_BYTES >> 20
                    )));
                }
                Ok(Bounded::NotRegular(kind)) => {
                    return Err(stop(format!(
                        "{path} is a {kind}, not a regular file: refused (only regular files are read)"
                    )));
                }
                Err(e) => {
                    ctx.log(LogLevel::Warning, &format!("{path}: not readable: {e}"), None)
                        .await?;
                    continue;
                }
            };
            total += data.len() as u64;
            if total > MAX_TOTAL_BYTES {
                return Err(stop(format!(
                    "more than {} MiB read from the server (MAX_TOTAL_BYTES), at {path}",
                    MAX_TOTAL_BYTES >> 20
                )));
            }
            let text = String::from_utf8_lossy(&data).into_owned();
            drop(data);
            // Parsing is CPU work on untrusted text: off the async workers, so the scheduler's
            // heartbeat and other tasks keep running.
            let (scanned, budget, text, server_root) = {
                let (p, r) = (path.clone(), root.clone());
                let mut budget = scan.clone();
                tokio::task::spawn_blocking(move || {
                    let found = webconf::includes(flavor, &p, &text, &r, &mut budget);
                    let server_root = (flavor == Flavor::Apache)
                        .then(|| webconf::apache_server_root(&text))
                        .flatten();
                    (found, budget, text, server_root)
                })
                .await
                .map_err(|e| TaskFailure::permanent(format!("config parser failed: {e}")))?
            };
            scan = budget;
            let patterns = scanned.map_err(|e| stop(e.to_string()))?;
            if let Some(r) = server_root {
                root = r;
            }
            let (content, note) = if text.len() > CONFIG_CONTENT_MAX {
                (
                    None,
                    Some(format!(
                        "{} bytes: larger than the 64 KB column, stored without content (sites were still parsed)",
                        text.len()
                    )),
                )
            } else {
                (Some(text.clone()), None)
            };
            if path.len() <= 255 {
                configs.push(FoundConfig {
                    config_type,
                    path: path.clone(),
                    content,
                    note,
                });
            }
            let mut incs = Vec::new();
            for pattern in patterns {
                if let Some(files) = expanded.get(&pattern) {
                    incs.extend(files.iter().cloned());
                    continue;
                }
                if expanded.len() >= MAX_PATTERNS {
                    return Err(stop(format!(
                        "more than {MAX_PATTERNS} distinct include patterns (MAX_PATTERNS), at {path}"
                    )));
                }
                let files = self.expand_glob(sftp, &pattern).await.map_err(stop)?;
                incs.extend(files.iter().cloned());
                expanded.insert(pattern, files);
            }
            // Depth-first in file order: the stack pops the last pushed first.
            for i in incs.into_iter().rev() {
                queue.push(i);
            }
            parsed.push((path, text));
        }
        // Parse from the main file, reading includes where they stand (from the files fetched
        // above), so values inherited across files (http-level certificates) apply. Every load
        // counts against the budget: a file included twice is parsed (and counted) twice.
        let mut sites = Vec::new();
        if parsed.is_empty() {
            return Ok((configs, sites));
        }
        let main_root = parent_dir(&main);
        let found = tokio::task::spawn_blocking(move || {
            let mut budget = webconf::Budget::new(webconf::Limits::DEFAULT);
            let (file, text) = (&parsed[0].0, &parsed[0].1);
            // Each pattern is matched once: a file included many times costs one scan.
            let mut matched: HashMap<String, Vec<usize>> = HashMap::new();
            webconf::parse_sites_following(
                flavor,
                file,
                text,
                &main_root,
                &mut |pattern| {
                    matched
                        .entry(pattern.to_string())
                        .or_insert_with(|| included_files(&parsed, pattern))
                        .iter()
                        .map(|&i| parsed[i].clone())
                        .collect()
                },
                &mut budget,
            )
        })
        .await
        .map_err(|e| TaskFailure::permanent(format!("config parser failed: {e}")))?
        .map_err(|e| stop(e.to_string()))?;
        if found.len() > MAX_SITES {
            return Err(stop(format!(
                "more than {MAX_SITES} sites (MAX_SITES) in {main} and its includes"
            )));
        }
        let mut certs = CertReads {
            total,
            files: HashMap::new(),
        };
        for site in found {
            sites.push(self.site_row(server, sftp, site, &mut certs).await.map_err(stop)?);
        }
        Ok((configs, sites))
    }

    /// Files matching an include pattern (glob in the last component only, as both servers use).
    /// More than [`MAX_FILES`] matches is an error naming the bound.
    async fn expand_glob(&self, sftp: &Sftp<'_>, pattern: &str) -> Result<Vec<String>, String> {
        let (dir, name) = match pattern.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => return Ok(Vec::new()),
        };
        if !name.contains(['*', '?', '[']) {
            return match sftp.stat(pattern).await {
                Ok(Some(s)) if s.is_dir => self.dir_files(sftp, pattern, "*").await,
                Ok(Some(_)) => Ok(vec![pattern.to_string()]),
                _ => Ok(Vec::new()),
            };
        }
        if dir.contains(['*', '?', '[']) {
            return Ok(Vec::new());
        }
        self.dir_files(sftp, dir, name).await
    }

    async fn dir_files(&self, sftp: &Sftp<'_>, dir: &str, name_glob: &str) -> Result<Vec<String>, String> {
        let names = match sftp.list(dir).await {
            Ok(names) => names,
            // A listing past its bound fails the check; a missing or unreadable directory
            // simply matches nothing (as an include of it does for the web server).
            Err(e @ crate::engine::ssh::SshError::Limit { .. }) => return Err(e.to_string()),
            Err(_) => return Ok(Vec::new()),
        };
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| webconf::glob_match(name_glob, n))
            .collect();
        if names.len() > MAX_FILES {
            return Err(format!(
                "include {dir}/{name_glob} matches more than {MAX_FILES} files (MAX_FILES)"
            ));
        }
        let mut out = Vec::new();
        for n in names {
            let p = format!("{}/{n}", dir.trim_end_matches('/'));
            if let Ok(Some(s)) = sftp.stat(&p).await {
                if !s.is_dir {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// A site's row, with the facts of the certificate it serves from disk (each certificate
    /// file read once per discovery, within [`MAX_CERT_BYTES`], [`MAX_CERT_FILES`] and
    /// [`MAX_TOTAL_BYTES`]: past the last two the discovery stops, with the error returned).
    async fn site_row(
        &self,
        server: &ServerRow,
        sftp: &Sftp<'_>,
        site: webconf::Site,
        certs: &mut CertReads,
    ) -> Result<SiteRow, String> {
        let mut row = SiteRow {
            server_id: server.id,
            config_path: clip(&site.file, 255),
            line: i32::try_from(site.line).unwrap_or(i32::MAX),
            server_names: serde_json::to_string(&site.names).unwrap_or_else(|_| "[]".into()),
            listen: Some(clip(&site.listen.join(" "), 255)).filter(|s| !s.is_empty()),
            port: site.port.map(i32::from),
            tls: site.tls,
            cert_path: site.cert_path.as_deref().map(|s| clip(s, 255)),
            key_path: site.key_path.as_deref().map(|s| clip(s, 255)),
            chain_path: site.chain_path.as_deref().map(|s| clip(s, 255)),
            document_root: site.document_root.as_deref().map(|s| clip(s, 500)),
            discovered_at: chrono::Utc::now(),
            ..Default::default()
        };
        let Some(cert_path) = site.cert_path.filter(|p| !p.contains('$')) else {
            return Ok(row);
        };
        let data = match certs.read(sftp, &cert_path).await? {
            Ok(d) => d,
            Err(e) => {
                row.cert_error = Some(clip(&e, 255));
                return Ok(row);
            }
        };
        match crate::domain::certpem::certificates_der(&data) {
            Ok(ders) if !ders.is_empty() => {
                let der = &ders[0];
                match crate::domain::certpem::summarize(der, chrono::Utc::now()) {
                    Ok(sum) => {
                        row.cert_subject = Some(clip(&sum.subject_label(), 255));
                        row.cert_sans = serde_json::to_string(&sum.dns_names_lower()).ok();
                        row.cert_issuer = Some(clip(&sum.issuer_label(), 255));
                        row.cert_serial = Some(clip(&sum.serial_hex, 100));
                        row.cert_not_after = Some(sum.not_after);
                        row.cert_sha256 = Some(sum.sha256_hex.clone());
                        row.certificate_id = self.managed_match(server.user_id, &sum).await;
                    }
                    Err(e) => row.cert_error = Some(clip(&e, 255)),
                }
            }
            Ok(_) => row.cert_error = Some("no certificate in the file".into()),
            Err(e) => row.cert_error = Some(clip(&e, 255)),
        }
        Ok(row)
    }

    async fn managed_match(&self, user_id: i64, sum: &crate::domain::certpem::CertSummary) -> Option<i64> {
        let mut names = sum.dns_names_lower();
        names.truncate(20);
        let rows = store::certs_for_names(self.db(), user_id, &names).await.ok()?;
        rows.into_iter().find_map(|(id, pem)| {
            let der = crate::domain::certpem::certificates_der(pem?.as_bytes())
                .ok()?
                .into_iter()
                .next()?;
            (crate::domain::certpem::sha256_hex(&der) == sum.sha256_hex).then_some(id)
        })
    }

    /// With privilege mode sudo: records readable sudoers drop-ins and checks, with `sudo -n -l`,
    /// that the test and reload commands may run without a password.
    async fn check_sudo(
        &self,
        ctx: &TaskContext,
        server: &ServerRow,
        session: &SshSession,
        sftp: &Sftp<'_>,
    ) -> Result<Vec<FoundConfig>, TaskFailure> {
        let mut out = Vec::new();
        for name in sftp
            .list(SUDOERS_DIR)
            .await
            .unwrap_or_default()
            .into_iter()
            .take(MAX_FILES)
        {
            let path = format!("{SUDOERS_DIR}/{name}");
            if let Ok(Some(d)) = sftp.read(&path, CONFIG_CONTENT_MAX as u64).await {
                out.push(FoundConfig {
                    config_type: ConfigType::System,
                    path,
                    content: Some(String::from_utf8_lossy(&d).into_owned()),
                    note: None,
                });
            }
        }
        let cmds = super::hosts::server_commands(server);
        for (what, cmd) in [("test", &cmds.test), ("reload", &cmds.reload)] {
            let Some(cmd) = cmd else { continue };
            let r = session
                .exec(&format!("{PATH_PREFIX}sudo -n -l {cmd}"))
                .await
                .map_err(RemoteError::from)?;
            let (level, msg) = if r.code == 0 {
                (
                    LogLevel::Info,
                    format!("sudo allows the {what} command without a password: {cmd}"),
                )
            } else {
                (
                    LogLevel::Warning,
                    format!(
                        "sudo does NOT allow the {what} command without a password ({}): add a NOPASSWD rule for `{cmd}`",
                        r.excerpt(200)
                    ),
                )
            };
            ctx.log(level, &msg, None).await?;
        }
        Ok(out)
    }
}

/// Certificate files read by one discovery: each path once, counted against the bounds.
struct CertReads {
    /// Bytes read so far by the discovery (config files included).
    total: u64,
    /// Path → its bytes, or why the site gets no certificate facts.
    files: HashMap<String, Result<std::sync::Arc<Vec<u8>>, String>>,
}

impl CertReads {
    /// The file's bytes or the site's error; `Err` (outer) when a discovery bound is passed.
    async fn read(&mut self, sftp: &Sftp<'_>, path: &str) -> Result<Result<std::sync::Arc<Vec<u8>>, String>, String> {
        if let Some(r) = self.files.get(path) {
            return Ok(r.clone());
        }
        if self.files.len() >= MAX_CERT_FILES {
            return Err(format!(
                "more than {MAX_CERT_FILES} certificate files (MAX_CERT_FILES), at {path}"
            ));
        }
        let r = match sftp.read_bounded(path, MAX_CERT_BYTES).await {
            Ok(Bounded::Data(d)) => {
                self.total += d.len() as u64;
                if self.total > MAX_TOTAL_BYTES {
                    return Err(format!(
                        "more than {} MiB read from the server (MAX_TOTAL_BYTES), at {path}",
                        MAX_TOTAL_BYTES >> 20
                    ));
                }
                Ok(std::sync::Arc::new(d))
            }
            Ok(Bounded::TooLarge) => Err(format!(
                "larger than {} MiB (MAX_CERT_BYTES): not a certificate file",
                MAX_CERT_BYTES >> 20
            )),
            Ok(Bounded::NotRegular(kind)) => Err(format!("a {kind}, not a regular file: refused")),
            Err(e) => Err(format!("not readable: {e}")),
        };
        self.files.insert(path.to_string(), r.clone());
        Ok(r)
    }
}

/// The fetched files (indices) an include pattern names, in path order (how both servers read
/// globs).
fn included_files(files: &[(String, String)], pattern: &str) -> Vec<usize> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let mut out: Vec<usize> = (0..files.len())
        .filter(|&i| {
            let p = &files[i].0;
            p == pattern
                || match p.rsplit_once('/') {
                    Some((d, n)) => (d == dir && webconf::glob_match(name, n)) || d == pattern.trim_end_matches('/'),
                    None => false,
                }
        })
        .collect();
    out.sort_by(|&a, &b| files[a].0.cmp(&files[b].0));
    out
}

fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.to_string(),
        None => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_versions() {
        let (n, v) = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
        );
        assert_eq!((n.as_deref(), v.as_deref()), (Some("Debian GNU/Linux"), Some("12")));
        assert_eq!(
            parse_web_version("nginx version: nginx/1.22.1\n").as_deref(),
            Some("nginx/1.22.1")
        );
        assert_eq!(
            parse_web_version("Server version: Apache/2.4.62 (Debian)\nServer built:   2024-07-01\n").as_deref(),
            Some("Apache/2.4.62 (Debian)")
        );
        assert_eq!(parse_web_version("bash: nginx: command not found"), None);
        assert_eq!(parent_dir("/etc/nginx/nginx.conf"), "/etc/nginx");
        assert_eq!(parent_dir("/nginx.conf"), "/");
    }
}
