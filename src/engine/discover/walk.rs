//! [`discover`]: the main config and everything it includes, read through a [`ConfigFs`] within
//! the discovery bounds; the sites they define; the certificate each site serves from disk.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::bounds::{
    clip, CONFIG_CONTENT_MAX, MAX_CERT_BYTES, MAX_CERT_FILES, MAX_FILES, MAX_FILE_BYTES, MAX_PATTERNS, MAX_SITES,
    MAX_TOTAL_BYTES, MAX_WARNINGS, WARNING_MAX_CHARS,
};
use super::fs::{ConfigFs, ListError};
use super::wire::{fit_names, DiscoveredConfig, DiscoveredSite, Discovery, SiteCert};
use crate::domain::webconf::{self, Flavor};
use crate::domain::{ConfigType, ServerType};
use crate::engine::deploy::StepError;
use crate::engine::ssh::Bounded;

/// Why a discovery stopped (nothing it found is to be stored).
#[derive(Debug, Clone)]
pub enum DiscoverError {
    /// A bound was passed or a file refused: the message names the bound and the file.
    Stopped(String),
    /// The host's file system could not be read where discovery cannot go on (looking for the
    /// main config); [`StepError::transient`] says whether another attempt may pass.
    Fs(StepError),
}

impl std::fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoverError::Stopped(m) => f.write_str(m),
            DiscoverError::Fs(e) => write!(f, "{e}"),
        }
    }
}

/// The config syntax of a web server type (`None`: nothing to discover).
pub fn flavor_for(t: ServerType) -> Option<Flavor> {
    match t {
        ServerType::Nginx => Some(Flavor::Nginx),
        ServerType::Apache => Some(Flavor::Apache),
        ServerType::Other => None,
    }
}

/// Adds a warning (clipped), while there is room for it.
fn warn(d: &mut Discovery, msg: String) {
    if d.warnings.len() < MAX_WARNINGS {
        d.warnings.push(clip(&msg, WARNING_MAX_CHARS));
    }
}

/// Reads the main config (`config_root`, else the flavor's usual places) and everything it
/// includes, depth-first in file order; parses the sites from the main file, following includes
/// where they stand (so values inherited across files apply); reads each site's certificate.
///
/// Every bound of a discovery applies ([`MAX_FILES`], [`MAX_FILE_BYTES`], [`MAX_TOTAL_BYTES`],
/// [`MAX_PATTERNS`], [`MAX_SITES`], [`MAX_CERT_FILES`], [`MAX_CERT_BYTES`], the listing bound
/// and `webconf::Limits::DEFAULT`): past one it stops with [`DiscoverError::Stopped`] naming the
/// bound and the file. An unreadable file, or no main config, is a warning in the result.
/// Parsing runs off the async workers.
pub async fn discover(
    fs: &dyn ConfigFs,
    flavor: Flavor,
    config_root: Option<&str>,
) -> Result<Discovery, DiscoverError> {
    let stop = DiscoverError::Stopped;
    let mut d = Discovery::default();
    let candidates: Vec<String> = match config_root {
        Some(p) => vec![p.to_string()],
        None => webconf::default_main_configs(flavor)
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut main = None;
    for c in &candidates {
        if fs.stat(c).await.map_err(DiscoverError::Fs)?.is_some_and(|s| !s.is_dir) {
            main = Some(c.clone());
            break;
        }
    }
    let Some(main) = main else {
        warn(
            &mut d,
            format!(
                "no {flavor:?} main config found (tried {}); set the server's config root",
                candidates.join(", ")
            ),
        );
        return Ok(d);
    };
    let mut root = parent_dir(&main);
    let config_type = match flavor {
        Flavor::Nginx => ConfigType::Nginx,
        Flavor::Apache => ConfigType::Apache,
    };
    let mut queue = vec![main.clone()];
    let mut seen = BTreeSet::new();
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
        let data = match fs.read_bounded(&path, MAX_FILE_BYTES).await {
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
                warn(&mut d, format!("{path}: not readable: {e}"));
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
            .map_err(|e| stop(format!("config parser failed: {e}")))?
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
            d.configs.push(DiscoveredConfig {
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
            let files = expand_glob(fs, &pattern).await.map_err(stop)?;
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
    if parsed.is_empty() {
        return Ok(d);
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
    .map_err(|e| stop(format!("config parser failed: {e}")))?
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
        d.sites.push(site_of(fs, site, &mut certs).await.map_err(stop)?);
    }
    Ok(d)
}

/// Files matching an include pattern (glob in the last component only, as both servers use).
/// More than [`MAX_FILES`] matches is an error naming the bound.
async fn expand_glob(fs: &dyn ConfigFs, pattern: &str) -> Result<Vec<String>, String> {
    let (dir, name) = match pattern.rsplit_once('/') {
        Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
        None => return Ok(Vec::new()),
    };
    if !name.contains(['*', '?', '[']) {
        return match fs.stat(pattern).await {
            Ok(Some(s)) if s.is_dir => dir_files(fs, pattern, "*").await,
            Ok(Some(_)) => Ok(vec![pattern.to_string()]),
            _ => Ok(Vec::new()),
        };
    }
    if dir.contains(['*', '?', '[']) {
        return Ok(Vec::new());
    }
    dir_files(fs, dir, name).await
}

async fn dir_files(fs: &dyn ConfigFs, dir: &str, name_glob: &str) -> Result<Vec<String>, String> {
    let names = match fs.list(dir).await {
        Ok(names) => names,
        // A listing past its bound fails the discovery; a missing or unreadable directory
        // simply matches nothing (as an include of it does for the web server).
        Err(ListError::Limit(m)) => return Err(m),
        Err(ListError::Failed(_)) => return Ok(Vec::new()),
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
        if let Ok(Some(s)) = fs.stat(&p).await {
            if !s.is_dir {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// A site, with the facts of the certificate it serves from disk (each certificate file read
/// once per discovery, within [`MAX_CERT_BYTES`], [`MAX_CERT_FILES`] and [`MAX_TOTAL_BYTES`]:
/// past the last two the discovery stops, with the error returned).
async fn site_of(fs: &dyn ConfigFs, site: webconf::Site, certs: &mut CertReads) -> Result<DiscoveredSite, String> {
    let mut out = DiscoveredSite {
        config_path: clip(&site.file, 255),
        line: u32::try_from(site.line).unwrap_or(i32::MAX as u32).min(i32::MAX as u32),
        names: fit_names(site.names),
        listen: Some(clip(&site.listen.join(" "), 255)).filter(|s| !s.is_empty()),
        port: site.port,
        tls: site.tls,
        cert_path: site.cert_path.as_deref().map(|s| clip(s, 255)),
        key_path: site.key_path.as_deref().map(|s| clip(s, 255)),
        chain_path: site.chain_path.as_deref().map(|s| clip(s, 255)),
        document_root: site.document_root.as_deref().map(|s| clip(s, 500)),
        cert: None,
        cert_error: None,
    };
    let Some(cert_path) = site.cert_path.filter(|p| !p.contains('$')) else {
        return Ok(out);
    };
    let data = match certs.read(fs, &cert_path).await? {
        Ok(d) => d,
        Err(e) => {
            out.cert_error = Some(clip(&e, 255));
            return Ok(out);
        }
    };
    match crate::domain::certpem::certificates_der(&data) {
        Ok(ders) if !ders.is_empty() => match crate::domain::certpem::summarize(&ders[0], chrono::Utc::now()) {
            Ok(sum) => {
                out.cert = Some(SiteCert {
                    subject: clip(&sum.subject_label(), 255),
                    sans: fit_names(sum.dns_names_lower()),
                    issuer: clip(&sum.issuer_label(), 255),
                    serial: clip(&sum.serial_hex, 100),
                    not_after: sum.not_after,
                    sha256: sum.sha256_hex.clone(),
                })
            }
            Err(e) => out.cert_error = Some(clip(&e, 255)),
        },
        Ok(_) => out.cert_error = Some("no certificate in the file".into()),
        Err(e) => out.cert_error = Some(clip(&e, 255)),
    }
    Ok(out)
}

/// Certificate files read by one discovery: each path once, counted against the bounds.
struct CertReads {
    /// Bytes read so far by the discovery (config files included).
    total: u64,
    /// Path → its bytes, or why the site gets no certificate facts.
    files: HashMap<String, Result<Arc<Vec<u8>>, String>>,
}

impl CertReads {
    /// The file's bytes or the site's error; `Err` (outer) when a discovery bound is passed.
    async fn read(&mut self, fs: &dyn ConfigFs, path: &str) -> Result<Result<Arc<Vec<u8>>, String>, String> {
        if let Some(r) = self.files.get(path) {
            return Ok(r.clone());
        }
        if self.files.len() >= MAX_CERT_FILES {
            return Err(format!(
                "more than {MAX_CERT_FILES} certificate files (MAX_CERT_FILES), at {path}"
            ));
        }
        let r = match fs.read_bounded(path, MAX_CERT_BYTES).await {
            Ok(Bounded::Data(d)) => {
                self.total += d.len() as u64;
                if self.total > MAX_TOTAL_BYTES {
                    return Err(format!(
                        "more than {} MiB read from the server (MAX_TOTAL_BYTES), at {path}",
                        MAX_TOTAL_BYTES >> 20
                    ));
                }
                Ok(Arc::new(d))
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

/// The directory of `path` (`/` at the top).
pub(super) fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.to_string(),
        None => "/".into(),
    }
}
