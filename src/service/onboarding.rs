//! Bulk onboarding: server entries from an OpenSSH client config or from a CSV file, with a
//! per-line report of what was added and why a line was not.

use std::collections::HashMap;

use super::servers::ServerInput;
use super::{Actor, Services};
use crate::domain::{ssh_config, AuthType, PrivilegeMode, ServerType};
use crate::errors::ServiceResult;
use crate::store::servers::{self as store, ServerFilter};
use crate::store::Page;

/// The outcome of one line or host entry.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ImportLine {
    /// Line number in the file (1-based).
    pub line: usize,
    /// Host alias or hostname.
    pub name: String,
    /// Id of the server added.
    pub added: Option<i64>,
    /// Why nothing was added.
    pub skipped: Option<String>,
}

/// Defaults applied to imported servers.
#[derive(Debug, Clone, Default)]
pub struct ImportDefaults {
    /// Web server type (default nginx).
    pub server_type: Option<ServerType>,
    /// Privilege mode.
    pub privilege_mode: Option<PrivilegeMode>,
    /// Import without adding (report only).
    pub dry_run: bool,
}

/// The CSV columns understood (header row required, any order; unknown columns refused).
pub const CSV_COLUMNS: &[&str] = &[
    "name",
    "hostname",
    "port",
    "username",
    "auth_type",
    "key_file",
    "server_type",
    "privilege_mode",
    "jump",
    "verify_port",
    "test_command",
    "reload_command",
    "config_root",
];

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => p.to_string(),
    }
}

/// The line of the `Host` entry that names `alias`.
fn host_line(text: &str, alias: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let mut w = l.split_whitespace();
            w.next().is_some_and(|k| k.eq_ignore_ascii_case("host")) && w.any(|a| a == alias)
        })
        .map(|i| i + 1)
}

impl Services {
    /// A key file named in an imported file, read on the certdeck host (admins and allowed users).
    async fn read_key(&self, actor: &Actor, path: &str) -> Result<String, String> {
        self.read_host_key_file(actor, std::path::Path::new(&expand_home(path)))
            .await
            .map_err(|e| e.to_string())
    }

    /// The actor's servers by name and by `host:port`, to resolve jumps and refuse duplicates.
    async fn known_servers(&self, actor: &Actor) -> ServiceResult<(HashMap<String, i64>, HashMap<String, i64>)> {
        let f = ServerFilter {
            user_id: Some(actor.user_id),
            ..Default::default()
        };
        let mut by_name = HashMap::new();
        let mut by_addr = HashMap::new();
        let mut page = Page::first(1000);
        loop {
            let rows = store::list_servers(self.db(), &f, page).await?;
            for r in &rows {
                if let Some(n) = &r.name {
                    by_name.insert(n.clone(), r.id);
                }
                by_addr.insert(format!("{}:{}", r.hostname.to_ascii_lowercase(), r.port), r.id);
            }
            match rows.last() {
                Some(last) if rows.len() == 1000 => page.before_id = Some(last.id),
                _ => break,
            }
        }
        Ok((by_name, by_addr))
    }

    /// Adds a server for each `Host` of an OpenSSH client config (`Host` alias → name). Hosts
    /// with an IdentityFile use key auth (the key file is read now and stored encrypted), the
    /// others the ssh-agent; ProxyJump must name a host added before it or an existing server.
    pub async fn servers_import_ssh_config(
        &self,
        actor: &Actor,
        text: &str,
        defaults: &ImportDefaults,
    ) -> ServiceResult<Vec<ImportLine>> {
        actor.require_write("server.import")?;
        let (hosts, skipped) = ssh_config::parse(text);
        let (mut by_name, mut by_addr) = self.known_servers(actor).await?;
        let mut out: Vec<ImportLine> = skipped
            .into_iter()
            .map(|s| ImportLine {
                line: s.line,
                name: String::new(),
                added: None,
                skipped: Some(s.reason),
            })
            .collect();
        for (i, h) in hosts.into_iter().enumerate() {
            let port = h.port.unwrap_or(22);
            let mut line = ImportLine {
                line: host_line(text, &h.alias).unwrap_or(i + 1),
                name: h.alias.clone(),
                added: None,
                skipped: None,
            };
            let addr = format!("{}:{port}", h.hostname.to_ascii_lowercase());
            if let Some(id) = by_name.get(&h.alias).or_else(|| by_addr.get(&addr)) {
                line.skipped = Some(format!("already a server (id {id})"));
                out.push(line);
                continue;
            }
            let jump = match &h.proxy_jump {
                None => None,
                Some(j) => {
                    let first = j.split(',').next().unwrap_or("").trim();
                    let host = first.rsplit_once('@').map_or(first, |(_, h)| h);
                    match by_name
                        .get(host)
                        .or_else(|| by_addr.get(&format!("{}:22", host.to_ascii_lowercase())))
                    {
                        Some(id) => Some(*id),
                        None => {
                            line.skipped = Some(format!(
                                "ProxyJump {j}: no server entry of that name (import or add it first)"
                            ));
                            out.push(line);
                            continue;
                        }
                    }
                }
            };
            let private_key = match &h.identity_file {
                Some(p) => match self.read_key(actor, p).await {
                    Ok(k) => Some(k),
                    Err(e) => {
                        line.skipped = Some(e);
                        out.push(line);
                        continue;
                    }
                },
                None => None,
            };
            let input = ServerInput {
                name: Some(h.alias.clone()),
                hostname: Some(h.hostname.clone()),
                port: Some(i64::from(port)),
                server_type: defaults.server_type,
                auth_type: Some(AuthType::Key),
                username: Some(
                    h.user
                        .clone()
                        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "root".into())),
                ),
                private_key,
                jump_server_id: jump,
                privilege_mode: defaults.privilege_mode,
                ..Default::default()
            };
            if defaults.dry_run {
                out.push(line);
                continue;
            }
            match self.server_create(actor, &input).await {
                Ok(r) => {
                    by_name.insert(h.alias.clone(), r.id);
                    by_addr.insert(addr, r.id);
                    line.added = Some(r.id);
                }
                Err(e) => line.skipped = Some(e.to_string()),
            }
            out.push(line);
        }
        out.sort_by_key(|l| l.line);
        Ok(out)
    }

    /// Adds a server for each data row of a CSV file with a header of [`CSV_COLUMNS`].
    /// Passwords are not accepted in a CSV file (they would sit in plain text on disk): rows
    /// use key files, or the ssh-agent when `auth_type` is key without a key file.
    pub async fn servers_import_csv(
        &self,
        actor: &Actor,
        text: &str,
        defaults: &ImportDefaults,
    ) -> ServiceResult<Vec<ImportLine>> {
        actor.require_write("server.import")?;
        let mut rd = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers: Vec<String> = match rd.headers() {
            Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
            Err(e) => {
                return Ok(vec![ImportLine {
                    line: 1,
                    name: String::new(),
                    added: None,
                    skipped: Some(format!("cannot read the header row: {e}")),
                }])
            }
        };
        if let Some(bad) = headers.iter().find(|h| !CSV_COLUMNS.contains(&h.as_str())) {
            return Err(crate::errors::ServiceError::invalid(
                "csv",
                format!("unknown column '{bad}'; the columns are {}", CSV_COLUMNS.join(", ")),
            ));
        }
        if !headers.iter().any(|h| h == "hostname") {
            return Err(crate::errors::ServiceError::invalid(
                "csv",
                "a 'hostname' column is required",
            ));
        }
        let (mut by_name, mut by_addr) = self.known_servers(actor).await?;
        let mut out = Vec::new();
        for rec in rd.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    out.push(ImportLine {
                        line,
                        name: String::new(),
                        added: None,
                        skipped: Some(format!("malformed row: {e}")),
                    });
                    continue;
                }
            };
            let lineno = rec.position().map_or(0, |p| p.line() as usize);
            let get = |c: &str| {
                headers
                    .iter()
                    .position(|h| h == c)
                    .and_then(|i| rec.get(i))
                    .map(str::to_string)
                    .filter(|v| !v.is_empty())
            };
            let hostname = get("hostname").unwrap_or_default();
            let mut line = ImportLine {
                line: lineno,
                name: get("name").unwrap_or_else(|| hostname.clone()),
                added: None,
                skipped: None,
            };
            let result: Result<ServerInput, String> = (|| {
                let num = |c: &str| -> Result<Option<i64>, String> {
                    get(c)
                        .map(|v| v.parse::<i64>().map_err(|_| format!("{c} '{v}' is not a number")))
                        .transpose()
                };
                let auth: Option<AuthType> = get("auth_type")
                    .map(|v| v.parse().map_err(|e| format!("{e}")))
                    .transpose()?;
                if auth == Some(AuthType::Password) {
                    return Err("auth_type password is not accepted from a CSV file (no passwords on disk): use a key file or the ssh-agent, or add the server with --password-stdin".into());
                }
                let jump = match get("jump") {
                    None => None,
                    Some(j) => Some(match j.parse::<i64>() {
                        Ok(id) => id,
                        Err(_) => *by_name
                            .get(&j)
                            .ok_or_else(|| format!("jump '{j}': no server of that name"))?,
                    }),
                };
                Ok(ServerInput {
                    name: get("name"),
                    hostname: Some(hostname.clone()),
                    port: num("port")?,
                    server_type: get("server_type")
                        .map(|v| v.parse().map_err(|e| format!("{e}")))
                        .transpose()?
                        .or(defaults.server_type),
                    auth_type: Some(auth.unwrap_or(AuthType::Key)),
                    username: get("username"),
                    // Read below, through the service's check.
                    private_key: None,
                    privilege_mode: get("privilege_mode")
                        .map(|v| v.parse().map_err(|e| format!("{e}")))
                        .transpose()?
                        .or(defaults.privilege_mode),
                    jump_server_id: jump,
                    verify_port: num("verify_port")?,
                    test_command: get("test_command"),
                    reload_command: get("reload_command"),
                    config_root: get("config_root"),
                    ..Default::default()
                })
            })();
            let result = match (result, get("key_file")) {
                (Ok(mut input), Some(path)) => self.read_key(actor, &path).await.map(|k| {
                    input.private_key = Some(k);
                    input
                }),
                (other, _) => other,
            };
            let input = match result {
                Ok(i) => i,
                Err(e) => {
                    line.skipped = Some(e);
                    out.push(line);
                    continue;
                }
            };
            let addr = format!("{}:{}", hostname.to_ascii_lowercase(), input.port.unwrap_or(22));
            if let Some(id) = by_addr.get(&addr) {
                line.skipped = Some(format!("already a server (id {id})"));
                out.push(line);
                continue;
            }
            if defaults.dry_run {
                out.push(line);
                continue;
            }
            match self.server_create(actor, &input).await {
                Ok(r) => {
                    if let Some(n) = &r.name {
                        by_name.insert(n.clone(), r.id);
                    }
                    by_addr.insert(addr, r.id);
                    line.added = Some(r.id);
                }
                Err(e) => line.skipped = Some(e.to_string()),
            }
            out.push(line);
        }
        Ok(out)
    }
}
