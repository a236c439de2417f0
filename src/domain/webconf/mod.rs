//! Reading nginx and Apache httpd configuration text to find the sites it defines — `server`
//! blocks of nginx's `http {}`, Apache `<VirtualHost>` containers — with their names, listen
//! addresses, whether they speak TLS and which certificate files they use.
//!
//! Pure: no I/O. The caller reads the main file, follows its [`includes`] (expanding globs with
//! [`glob_match`]) and gives every file's text to [`parse_sites`]; or it hands a loader to
//! [`parse_sites_following`], which reads includes where they stand, so that values inherited
//! across files (an `ssl_certificate` in `http {}` of `nginx.conf`, a certificate in a snippet
//! included inside a `server {}`) are seen. Best effort: unterminated blocks, stray braces and
//! binary garbage give what could be read, never a panic; the work is linear in the input (no
//! recursion over nesting, so deeply nested input cannot overflow the stack).
//!
//! The text comes from managed servers, which may be hostile. What follows includes counts
//! *loads*, not files, against a [`Budget`]: a file included twice is read (and counted) twice,
//! so a file that includes itself cannot multiply the work. Past a [`Limits`] bound the reading
//! stops with a [`LimitExceeded`] that names the bound and the file.

use std::collections::HashSet;
use std::time::{Duration, Instant};

mod apache;
mod glob;
mod nginx;
#[cfg(test)]
mod tests;

use apache::ApacheReader;
pub use glob::glob_match;
use nginx::NginxReader;

/// Which web server's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// nginx: `directive args;` and `block { … }`.
    Nginx,
    /// Apache httpd: one directive a line, `<Container …>` … `</Container>`.
    Apache,
}

/// A TLS (or plain) site found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    /// Path of the config file the block is in.
    pub file: String,
    /// 1-based line of the block's start (`server {` / `<VirtualHost`).
    pub line: usize,
    /// nginx `server_name` values; Apache `ServerName` (scheme and port stripped) then
    /// `ServerAlias` values. In order, without duplicates (compared ignoring ASCII case);
    /// `_` and empty names dropped.
    pub names: Vec<String>,
    /// nginx: each `listen` directive's arguments joined by a space (`[::]:443 ssl http2`);
    /// Apache: the `<VirtualHost>` addresses (`*:443`).
    pub listen: Vec<String>,
    /// Whether the site speaks TLS. nginx: a `listen` has the `ssl` (or `quic`) parameter, or
    /// `ssl on;` applies, or a `listen` is on port 443 and a certificate is set. Apache:
    /// `SSLEngine on` in the vhost (or inherited from the global scope), or an address on port 443
    /// and a certificate is set.
    pub tls: bool,
    /// Port of the first TLS listen (else of the first listen); nginx: 80 when there is no
    /// `listen`. `None` for a Unix socket or an address without a port (Apache `*`).
    pub port: Option<u16>,
    /// The first `ssl_certificate` / `SSLCertificateFile` (inherited from `http {}` / the file's
    /// top level for nginx, from the global scope for Apache), relative paths joined to the root.
    /// Values with `$variables` or a scheme (`data:`) are kept as written.
    pub cert_path: Option<String>,
    /// The first `ssl_certificate_key` / `SSLCertificateKeyFile`, inherited and resolved alike;
    /// `None` when not set (Apache then reads the key from the certificate file).
    pub key_path: Option<String>,
    /// Apache `SSLCertificateChainFile`, inherited and resolved alike; always `None` for nginx.
    pub chain_path: Option<String>,
    /// The document root: nginx `root` of the server block (inherited from `http {}`; roots
    /// inside `location` blocks are not the site's), Apache `DocumentRoot` of the vhost (or the
    /// global one); resolved like the certificate paths. Where http-01 files can be written.
    pub document_root: Option<String>,
}

/// Bounds on reading a configuration (see [`Budget`]). Loads, bytes and directives are summed
/// over every load: a file read twice counts twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// File loads: the main file and each file read for an include, every time it is read.
    pub loads: usize,
    /// How deep includes of includes are followed.
    pub depth: usize,
    /// Bytes of text read, over all loads.
    pub bytes: usize,
    /// Directives parsed over all loads: nginx directives and blocks, Apache lines that hold a
    /// directive or a container.
    pub directives: usize,
    /// Time spent reading (only while one of this module's functions runs).
    pub time: Duration,
}

impl Limits {
    /// The bounds of a discovery: far above real configurations (a distribution's nginx or
    /// Apache tree is tens of files and a few thousand directives), far below what hurts.
    pub const DEFAULT: Limits = Limits {
        loads: 1024,
        depth: 16,
        bytes: 32 * 1024 * 1024,
        directives: 200_000,
        time: Duration::from_secs(20),
    };
    /// No bound (for text already bounded by the caller, and for tests).
    pub const NONE: Limits = Limits {
        loads: usize::MAX,
        depth: usize::MAX,
        bytes: usize::MAX,
        directives: usize::MAX,
        time: Duration::MAX,
    };
}

/// Which bound a reading went past, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::loads`].
    Loads(usize),
    /// [`Limits::depth`].
    Depth(usize),
    /// [`Limits::bytes`].
    Bytes(usize),
    /// [`Limits::directives`].
    Directives(usize),
    /// [`Limits::time`].
    Time(Duration),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Loads(n) => write!(
                f,
                "more than {n} file loads (each include read counts, a file read twice counts twice: an include loop?)"
            ),
            Limit::Depth(n) => write!(f, "includes nested more than {n} deep (an include loop?)"),
            Limit::Bytes(n) => write!(f, "more than {} MiB of configuration text read over all loads", n >> 20),
            Limit::Directives(n) => write!(f, "more than {n} directives parsed over all loads"),
            Limit::Time(d) => write!(f, "more than {} s spent parsing", d.as_secs()),
        }
    }
}

/// A reading stopped at a bound of its [`Limits`]: which bound, and the file being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config reading stopped: {limit}, at {file}")]
pub struct LimitExceeded {
    /// The bound.
    pub limit: Limit,
    /// The file being read (or about to be loaded) when it was reached.
    pub file: String,
}

/// The work done against [`Limits`]. One budget may span several readings (for example the
/// per-file [`includes`] of a discovery): the counts add up.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: Limits,
    loads: usize,
    bytes: usize,
    directives: usize,
    spent: Duration,
    since: Option<Instant>,
    ticks: u32,
}

impl Budget {
    /// A fresh budget.
    pub fn new(limits: Limits) -> Self {
        Budget {
            limits,
            loads: 0,
            bytes: 0,
            directives: 0,
            spent: Duration::ZERO,
            since: None,
            ticks: 0,
        }
    }

    /// Its limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// File loads counted so far.
    pub fn loads(&self) -> usize {
        self.loads
    }

    /// Directives counted so far.
    pub fn directives(&self) -> usize {
        self.directives
    }

    /// Runs one reading, its time counted.
    fn timed<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.since.is_none();
        if outer {
            self.since = Some(Instant::now());
        }
        let out = f(self);
        if outer {
            if let Some(t) = self.since.take() {
                self.spent += t.elapsed();
            }
        }
        out
    }

    fn exceeded(limit: Limit, file: &str) -> LimitExceeded {
        LimitExceeded {
            limit,
            file: file.to_string(),
        }
    }

    /// Counts one load of `file` (`bytes` long) at include depth `depth`.
    fn load(&mut self, file: &str, bytes: usize, depth: usize) -> Result<(), LimitExceeded> {
        if depth > self.limits.depth {
            return Err(Self::exceeded(Limit::Depth(self.limits.depth), file));
        }
        self.loads += 1;
        if self.loads > self.limits.loads {
            return Err(Self::exceeded(Limit::Loads(self.limits.loads), file));
        }
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.limits.bytes {
            return Err(Self::exceeded(Limit::Bytes(self.limits.bytes), file));
        }
        self.clock(file, true)
    }

    /// Counts one directive of `file`.
    fn directive(&mut self, file: &str) -> Result<(), LimitExceeded> {
        self.directives += 1;
        if self.directives > self.limits.directives {
            return Err(Self::exceeded(Limit::Directives(self.limits.directives), file));
        }
        self.clock(file, false)
    }

    /// Checks the time now and then (every 1024 calls, or now when `now`).
    fn clock(&mut self, file: &str, now: bool) -> Result<(), LimitExceeded> {
        self.ticks = self.ticks.wrapping_add(1);
        if !now && !self.ticks.is_multiple_of(1024) {
            return Ok(());
        }
        let running = self.since.map_or(Duration::ZERO, |t| t.elapsed());
        if self.spent.saturating_add(running) > self.limits.time {
            return Err(Self::exceeded(Limit::Time(self.limits.time), file));
        }
        Ok(())
    }
}

/// Reads the files an include pattern names: `(path, text)` of each, in the order the server
/// reads them (sorted by name); nothing when none matches or they cannot be read.
type Loader<'a> = Option<&'a mut dyn FnMut(&str) -> Vec<(String, String)>>;

/// Includes of one file: patterns (may contain `*` `?` `[..]` globs), made absolute.
///
/// nginx `include` anywhere except inside `stream {}` / `mail {}` (those files cannot hold web
/// sites); Apache `Include` and `IncludeOptional` (relative to the `ServerRoot` in force at that
/// line). In order of appearance, without duplicates. The file counts as one load of `budget`.
pub fn includes(
    flavor: Flavor,
    file: &str,
    content: &str,
    root: &str,
    budget: &mut Budget,
) -> Result<Vec<String>, LimitExceeded> {
    let found = budget.timed(|budget| -> Result<Vec<String>, LimitExceeded> {
        budget.load(file, content.len(), 0)?;
        Ok(match flavor {
            Flavor::Nginx => {
                let mut reader = NginxReader::new(root, None, budget);
                reader.read(file, content, None, 0)?;
                reader.includes()
            }
            Flavor::Apache => {
                let mut reader = ApacheReader::new(root, None, budget);
                reader.read(file, content, 0)?;
                reader.includes
            }
        })
    })?;
    let mut seen = HashSet::new();
    Ok(found.into_iter().filter(|p| seen.insert(p.clone())).collect())
}

/// Sites defined in one file's text, in order. `root` = the directory relative paths are resolved
/// against (nginx: the prefix/dir of the main config, e.g. `/etc/nginx`; Apache: `ServerRoot`,
/// e.g. `/etc/apache2`). Includes are not followed.
///
/// nginx sites are the `server` blocks inside `http {}`, and top-level `server` blocks (a
/// `sites-enabled` file is included from inside `http`); never those of `stream {}` / `mail {}`.
pub fn parse_sites(flavor: Flavor, file: &str, content: &str, root: &str) -> Vec<Site> {
    // Without a loader the work is linear in `content`: no bound needed, none can be reached.
    sites(flavor, file, content, root, None, &mut Budget::new(Limits::NONE)).unwrap_or_default()
}

/// Sites of a whole configuration: like [`parse_sites`] on the main file, but every include is
/// read where it stands through `load`, which gets an absolute pattern (globs possible) and
/// returns `(path, text)` of the matching files in the order the server reads them (an empty
/// list when none matches or they cannot be read). Values inherited from another file apply,
/// and an Apache `ServerRoot` applies to the files read after it.
///
/// Every load (the main file included) is counted against `budget`: past one of its
/// [`Limits`] (loads, include depth, bytes, directives, time) the reading stops with the bound
/// and the file, so include loops end and a hostile configuration cannot exhaust the reader.
pub fn parse_sites_following(
    flavor: Flavor,
    file: &str,
    content: &str,
    root: &str,
    load: &mut dyn FnMut(&str) -> Vec<(String, String)>,
    budget: &mut Budget,
) -> Result<Vec<Site>, LimitExceeded> {
    sites(flavor, file, content, root, Some(load), budget)
}

fn sites(
    flavor: Flavor,
    file: &str,
    content: &str,
    root: &str,
    load: Loader<'_>,
    budget: &mut Budget,
) -> Result<Vec<Site>, LimitExceeded> {
    budget.timed(|budget| {
        budget.load(file, content.len(), 0)?;
        Ok(match flavor {
            Flavor::Nginx => {
                let mut reader = NginxReader::new(root, load, budget);
                reader.read(file, content, None, 0)?;
                reader.sites()
            }
            Flavor::Apache => {
                let mut reader = ApacheReader::new(root, load, budget);
                reader.read(file, content, 0)?;
                reader.sites()
            }
        })
    })
}

/// `ServerRoot` set in an Apache file, if any (the last one; to update `root` for later files).
/// Linear in `content`, which the caller bounds.
pub fn apache_server_root(content: &str) -> Option<String> {
    let mut budget = Budget::new(Limits::NONE);
    let mut reader = ApacheReader::new("", None, &mut budget);
    reader.read("", content, 0).ok()?;
    reader.server_root
}

/// Default main config paths to try, in order, for a flavor.
pub fn default_main_configs(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        Flavor::Nginx => &[
            "/etc/nginx/nginx.conf",
            "/usr/local/nginx/conf/nginx.conf",
            "/usr/local/etc/nginx/nginx.conf",
        ],
        Flavor::Apache => &[
            "/etc/apache2/apache2.conf",
            "/etc/httpd/conf/httpd.conf",
            "/usr/local/apache2/conf/httpd.conf",
            "/usr/local/etc/apache24/httpd.conf",
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// `path` joined to `root` unless already absolute, empty, a `$variable` or a `scheme:` value.
fn absolute(path: &str, root: &str) -> String {
    if path.is_empty() || root.is_empty() || path.starts_with(['/', '$']) || has_scheme(path) || is_drive(path) {
        return path.to_string();
    }
    let mut rel = path;
    while let Some(rest) = rel.strip_prefix("./") {
        rel = rest;
    }
    format!("{}/{}", root.trim_end_matches('/'), rel)
}

/// `data:…`, `pkcs11:…` and the like: a scheme of two or more characters before any `/`.
fn has_scheme(path: &str) -> bool {
    match path.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() >= 2
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// A Windows absolute path (`C:/…`, `C:\…`).
fn is_drive(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'/' | b'\\')
}

/// A port number written as digits only (no sign), 1–65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Site names in order, without duplicates (ASCII case ignored), `_` and empty ones dropped.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Names {
    fn push(&mut self, name: &str) {
        if name.is_empty() || name == "_" {
            return;
        }
        if self.seen.insert(name.to_ascii_lowercase()) {
            self.list.push(name.to_string());
        }
    }
}
