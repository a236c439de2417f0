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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

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

/// Does a file name match a glob pattern's last component (`*.conf`, `site?.conf`, `[ab].conf`)?
///
/// `*` any run, `?` one character, `[abc]` / `[a-z]` / `[!a]` (or `[^a]`) one of a set, `\x` a
/// literal `x`; a `[` without its `]` is literal. As glob(3) does for nginx and httpd, a name
/// starting with `.` is matched only by a pattern starting with a literal `.`. Case-sensitive.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern = pattern.rsplit('/').next().unwrap_or_default();
    let name = name.rsplit('/').next().unwrap_or_default();
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = name.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it absorbed to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if p.get(pi) == Some(&'*') {
            pi += 1;
            star = Some((pi, ti));
            continue;
        }
        if let Some(next) = glob_step(&p, pi, t[ti]) {
            pi = next;
            ti += 1;
            continue;
        }
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// Matches the one-character element of `p` at `pi` against `c`: the index after it, or `None`.
fn glob_step(p: &[char], pi: usize, c: char) -> Option<usize> {
    match *p.get(pi)? {
        '?' => Some(pi + 1),
        '[' => match glob_class(p, pi, c) {
            Some((true, next)) => Some(next),
            Some((false, _)) => None,
            None => (c == '[').then_some(pi + 1),
        },
        '\\' if pi + 1 < p.len() => (p[pi + 1] == c).then_some(pi + 2),
        x => (x == c).then_some(pi + 1),
    }
}

/// A `[...]` set at `p[pi]`: whether `c` is in it and the index after it; `None` when unclosed.
fn glob_class(p: &[char], pi: usize, c: char) -> Option<(bool, usize)> {
    let mut i = pi + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        match (p.get(i + 1), p.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                matched |= lo <= c && c <= hi;
                i += 3;
            }
            _ => {
                matched |= lo == c;
                i += 1;
            }
        }
    }
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

// ---------------------------------------------------------------------------------------------
// nginx

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

/// Appends the character a backslash escapes, as nginx unescapes tokens.
fn nginx_unescape(word: &mut String, c: char) {
    match c {
        '"' | '\'' | '\\' => word.push(c),
        't' => word.push('\t'),
        'r' => word.push('\r'),
        'n' => word.push('\n'),
        other => {
            word.push('\\');
            word.push(other);
        }
    }
}

/// nginx tokens with their 1-based line: words (quotes removed, escapes applied), `{`, `}`, `;`.
/// A `#` starts a comment at the start of a token; inside a word it is literal, as is `}`; a `{`
/// right after `$` belongs to the word (`${var}`). Lazy, so a reading stopped at a bound does
/// not tokenize the rest.
struct NginxTokens<'t> {
    it: std::iter::Peekable<std::str::Chars<'t>>,
    line: usize,
}

fn nginx_tokens(text: &str) -> NginxTokens<'_> {
    NginxTokens {
        it: text.chars().peekable(),
        line: 1,
    }
}

impl Iterator for NginxTokens<'_> {
    type Item = (Tok, usize);

    fn next(&mut self) -> Option<(Tok, usize)> {
        let it = &mut self.it;
        while let Some(c) = it.next() {
            match c {
                '\n' => self.line += 1,
                c if c.is_whitespace() => {}
                '#' => {
                    for c in it.by_ref() {
                        if c == '\n' {
                            self.line += 1;
                            break;
                        }
                    }
                }
                ';' => return Some((Tok::Semi, self.line)),
                '{' => return Some((Tok::Open, self.line)),
                '}' => return Some((Tok::Close, self.line)),
                '"' | '\'' => {
                    let start = self.line;
                    let mut word = String::new();
                    while let Some(q) = it.next() {
                        match q {
                            q if q == c => break,
                            '\\' => {
                                if let Some(n) = it.next() {
                                    if n == '\n' {
                                        self.line += 1;
                                    }
                                    nginx_unescape(&mut word, n);
                                }
                            }
                            '\n' => {
                                self.line += 1;
                                word.push('\n');
                            }
                            other => word.push(other),
                        }
                    }
                    return Some((Tok::Word(word), start));
                }
                first => {
                    let start = self.line;
                    let mut word = String::new();
                    let mut c = first;
                    loop {
                        let mut prev = c;
                        if c == '\\' {
                            match it.next() {
                                Some(n) => {
                                    if n == '\n' {
                                        self.line += 1;
                                    }
                                    nginx_unescape(&mut word, n);
                                    prev = '\0';
                                }
                                None => word.push('\\'),
                            }
                        } else {
                            word.push(c);
                        }
                        match it.peek() {
                            Some(&n) if !(n.is_whitespace() || n == ';' || (n == '{' && prev != '$')) => {
                                c = n;
                                it.next();
                            }
                            _ => break,
                        }
                    }
                    return Some((Tok::Word(word), start));
                }
            }
        }
        None
    }
}

/// One directive or block of an nginx config, in a flat arena (no recursive ownership, so even
/// absurd nesting is dropped without recursion).
struct Node {
    name: String,
    args: Vec<String>,
    line: usize,
    file: usize,
    parent: Option<usize>,
    block: bool,
    /// Inside `stream {}` or `mail {}`.
    in_stream: bool,
}

struct NginxReader<'a, 'b> {
    nodes: Vec<Node>,
    files: Vec<String>,
    root: String,
    load: Loader<'a>,
    budget: &'b mut Budget,
}

impl<'a, 'b> NginxReader<'a, 'b> {
    fn new(root: &str, load: Loader<'a>, budget: &'b mut Budget) -> Self {
        NginxReader {
            nodes: Vec::new(),
            files: Vec::new(),
            root: root.to_string(),
            load,
            budget,
        }
    }

    /// Adds one file's directives under `parent` (where it is included). Its blocks cannot close
    /// blocks of the including file: a stray `}` is ignored, an unterminated block ends with the
    /// file.
    fn read(&mut self, file: &str, text: &str, parent: Option<usize>, depth: usize) -> Result<(), LimitExceeded> {
        let file_id = self.files.len();
        self.files.push(file.to_string());
        let mut stack: Vec<usize> = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut line = 0;
        for (tok, at) in nginx_tokens(text) {
            let here = stack.last().copied().or(parent);
            match tok {
                Tok::Word(w) => {
                    if words.is_empty() {
                        line = at;
                    }
                    words.push(w);
                }
                Tok::Semi => {
                    if !words.is_empty() {
                        let id = self.push(std::mem::take(&mut words), line, file_id, here, false)?;
                        self.follow(id, depth)?;
                    }
                }
                Tok::Open => {
                    if words.is_empty() {
                        line = at;
                    }
                    let id = self.push(std::mem::take(&mut words), line, file_id, here, true)?;
                    stack.push(id);
                }
                Tok::Close => {
                    if !words.is_empty() {
                        self.push(std::mem::take(&mut words), line, file_id, here, false)?;
                    }
                    stack.pop();
                }
            }
            // Semicolons and braces alone make no directive: the clock still runs.
            self.budget.clock(file, false)?;
        }
        if !words.is_empty() {
            let here = stack.last().copied().or(parent);
            self.push(words, line, file_id, here, false)?;
        }
        Ok(())
    }

    fn push(
        &mut self,
        words: Vec<String>,
        line: usize,
        file: usize,
        parent: Option<usize>,
        block: bool,
    ) -> Result<usize, LimitExceeded> {
        self.budget.directive(&self.files[file])?;
        let mut words = words.into_iter();
        let name = words.next().unwrap_or_default();
        let in_stream = parent.is_some_and(|p| {
            let p = &self.nodes[p];
            p.in_stream || (p.block && (p.name == "stream" || p.name == "mail"))
        });
        self.nodes.push(Node {
            name,
            args: words.collect(),
            line,
            file,
            parent,
            block,
            in_stream,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Reads the files of an `include` directive in its place, when following includes; each
    /// counts as a load.
    fn follow(&mut self, id: usize, depth: usize) -> Result<(), LimitExceeded> {
        let node = &self.nodes[id];
        if node.name != "include" {
            return Ok(());
        }
        let (Some(arg), parent) = (node.args.first(), node.parent) else {
            return Ok(());
        };
        let pattern = absolute(arg, &self.root);
        let Some(load) = self.load.as_mut() else {
            return Ok(());
        };
        if depth + 1 > self.budget.limits.depth {
            return Err(Budget::exceeded(Limit::Depth(self.budget.limits.depth), &pattern));
        }
        for (path, text) in load(&pattern) {
            self.budget.load(&path, text.len(), depth + 1)?;
            self.read(&path, &text, parent, depth + 1)?;
        }
        Ok(())
    }

    fn includes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.block && !n.in_stream && n.name == "include")
            .filter_map(|n| n.args.first())
            .map(|a| absolute(a, &self.root))
            .collect()
    }

    fn sites(&self) -> Vec<Site> {
        const INHERITED: [&str; 4] = ["ssl", "ssl_certificate", "ssl_certificate_key", "root"];
        // The first directive of each inherited name in each context (None: the top level).
        let mut first: HashMap<(Option<usize>, &str), usize> = HashMap::new();
        // server_name and listen directives of each block.
        let mut own: HashMap<usize, Vec<usize>> = HashMap::new();
        for (id, n) in self.nodes.iter().enumerate() {
            if n.block || n.args.is_empty() {
                continue;
            }
            if let Some(name) = INHERITED.iter().find(|x| **x == n.name) {
                first.entry((n.parent, name)).or_insert(id);
            } else if let (Some(p), "server_name" | "listen") = (n.parent, n.name.as_str()) {
                own.entry(p).or_default().push(id);
            }
        }
        let lookup = |server: usize, parent: Option<usize>, name: &str| -> Option<&str> {
            first
                .get(&(Some(server), name))
                .or_else(|| parent.and_then(|p| first.get(&(Some(p), name))))
                .or_else(|| first.get(&(None, name)))
                .map(|&i| self.nodes[i].args[0].as_str())
        };
        let mut sites = Vec::new();
        for (id, n) in self.nodes.iter().enumerate() {
            let in_http = match n.parent {
                None => true,
                Some(p) => self.nodes[p].block && self.nodes[p].name == "http",
            };
            if !n.block || n.name != "server" || !in_http || n.in_stream {
                continue;
            }
            let mut names = Names::default();
            let mut listens: Vec<(String, Option<u16>, bool)> = Vec::new();
            for &d in own.get(&id).map(Vec::as_slice).unwrap_or_default() {
                let d = &self.nodes[d];
                if d.name == "server_name" {
                    for a in &d.args {
                        names.push(a);
                    }
                } else {
                    let ssl = d.args[1..].iter().any(|a| a == "ssl" || a == "quic");
                    listens.push((d.args.join(" "), nginx_listen_port(&d.args[0]), ssl));
                }
            }
            let ssl_on = lookup(id, n.parent, "ssl").is_some_and(|v| v.eq_ignore_ascii_case("on"));
            let cert = lookup(id, n.parent, "ssl_certificate").map(|p| absolute(p, &self.root));
            let key = lookup(id, n.parent, "ssl_certificate_key").map(|p| absolute(p, &self.root));
            let document_root = lookup(id, n.parent, "root").map(|p| absolute(p, &self.root));
            let ssl_listen = listens.iter().find(|l| l.2);
            let on_443 = listens.iter().any(|l| l.1 == Some(443));
            let tls = ssl_listen.is_some() || ssl_on || (on_443 && cert.is_some());
            let port = if listens.is_empty() {
                Some(80)
            } else if let Some(l) = ssl_listen {
                l.1
            } else if tls && !ssl_on {
                Some(443)
            } else {
                listens[0].1
            };
            sites.push(Site {
                file: self.files[n.file].clone(),
                line: n.line,
                names: names.list,
                listen: listens.into_iter().map(|l| l.0).collect(),
                tls,
                port,
                cert_path: cert,
                key_path: key,
                chain_path: None,
                document_root,
            });
        }
        sites
    }
}

/// Port of an nginx `listen` address: `443`, `*:443`, `127.0.0.1:8443`, `[::]:443`; 80 for an
/// address alone (`localhost`, `[::1]`); `None` for `unix:` sockets and unreadable ports.
fn nginx_listen_port(addr: &str) -> Option<u16> {
    if addr.starts_with("unix:") {
        return None;
    }
    let port = if let Some(rest) = addr.strip_prefix('[') {
        let (_, after) = rest.split_once(']')?;
        if after.is_empty() {
            return Some(80);
        }
        after.strip_prefix(':')?
    } else if addr.bytes().all(|b| b.is_ascii_digit()) {
        addr
    } else if let Some((_, port)) = addr.rsplit_once(':') {
        port
    } else {
        return Some(80);
    };
    parse_port(port)
}

// ---------------------------------------------------------------------------------------------
// Apache httpd

/// Logical lines with the 1-based number of their first physical line: a `\` ending a line
/// (before the line break, `\r` aside) joins the next one.
fn apache_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 1;
    let mut continuing = false;
    for (i, raw) in text.split('\n').enumerate() {
        if !continuing {
            start = i + 1;
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match raw.strip_suffix('\\') {
            Some(head) => {
                buf.push_str(head);
                continuing = true;
            }
            None => {
                buf.push_str(raw);
                out.push((start, std::mem::take(&mut buf)));
                continuing = false;
            }
        }
    }
    if continuing {
        out.push((start, buf));
    }
    out
}

/// Arguments of an Apache line: words split on whitespace; `"…"` or `'…'` quoted words keep
/// their spaces, `\` before the quote character escapes it.
fn apache_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            it.next();
            while let Some(x) = it.next() {
                if x == c {
                    break;
                }
                if x == '\\' && it.peek() == Some(&c) {
                    it.next();
                    word.push(c);
                } else {
                    word.push(x);
                }
            }
        } else {
            while let Some(&x) = it.peek() {
                if x.is_whitespace() {
                    break;
                }
                word.push(x);
                it.next();
            }
        }
        out.push(word);
    }
    out
}

/// The SSL settings of the global scope or of one vhost.
#[derive(Default)]
struct Scope {
    engine: Option<bool>,
    cert: Option<String>,
    key: Option<String>,
    chain: Option<String>,
    docroot: Option<String>,
}

struct VHost {
    file: String,
    line: usize,
    addrs: Vec<String>,
    server_name: Option<String>,
    aliases: Vec<String>,
    scope: Scope,
}

struct ApacheReader<'a, 'b> {
    root: String,
    server_root: Option<String>,
    global: Scope,
    vhosts: Vec<VHost>,
    /// The open `<VirtualHost>`.
    current: Option<usize>,
    /// Nesting of `<Macro>` containers: templates, not configuration, skipped.
    macro_depth: usize,
    includes: Vec<String>,
    load: Loader<'a>,
    budget: &'b mut Budget,
}

impl<'a, 'b> ApacheReader<'a, 'b> {
    fn new(root: &str, load: Loader<'a>, budget: &'b mut Budget) -> Self {
        ApacheReader {
            root: root.to_string(),
            server_root: None,
            global: Scope::default(),
            vhosts: Vec::new(),
            current: None,
            macro_depth: 0,
            includes: Vec::new(),
            load,
            budget,
        }
    }

    fn read(&mut self, file: &str, text: &str, depth: usize) -> Result<(), LimitExceeded> {
        for (line, l) in apache_lines(text) {
            self.line(file, line, &l, depth)?;
        }
        Ok(())
    }

    fn line(&mut self, file: &str, line: usize, text: &str, depth: usize) -> Result<(), LimitExceeded> {
        let t = text.trim();
        if t.is_empty() || t.starts_with('#') {
            return self.budget.clock(file, false);
        }
        self.budget.directive(file)?;
        if let Some(rest) = t.strip_prefix("</") {
            let name = rest.trim_end_matches('>').trim();
            if self.macro_depth > 0 {
                if name.eq_ignore_ascii_case("macro") {
                    self.macro_depth -= 1;
                }
            } else if name.eq_ignore_ascii_case("virtualhost") {
                self.current = None;
            }
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix('<') {
            let words = apache_words(rest.strip_suffix('>').unwrap_or(rest));
            let Some((name, args)) = words.split_first() else {
                return Ok(());
            };
            if name.eq_ignore_ascii_case("macro") {
                self.macro_depth += 1;
            } else if self.macro_depth == 0 && name.eq_ignore_ascii_case("virtualhost") {
                self.vhosts.push(VHost {
                    file: file.to_string(),
                    line,
                    addrs: args.to_vec(),
                    server_name: None,
                    aliases: Vec::new(),
                    scope: Scope::default(),
                });
                self.current = Some(self.vhosts.len() - 1);
            }
            // Other containers (<IfModule>, <Directory>, <IfDefine>, …): their content is read
            // as if active.
            return Ok(());
        }
        if self.macro_depth > 0 {
            return Ok(());
        }
        let words = apache_words(t);
        let Some((name, args)) = words.split_first() else {
            return Ok(());
        };
        let Some(arg) = args.first() else {
            return Ok(());
        };
        let path = || absolute(arg, &self.root);
        match name.to_ascii_lowercase().as_str() {
            "serverroot" => {
                self.root = arg.clone();
                self.server_root = Some(arg.clone());
            }
            "include" | "includeoptional" => {
                let pattern = path();
                self.includes.push(pattern.clone());
                self.follow(&pattern, depth)?;
            }
            "servername" => {
                if let Some(v) = self.current {
                    self.vhosts[v].server_name = Some(server_name_host(arg).to_string());
                }
            }
            "serveralias" => {
                if let Some(v) = self.current {
                    self.vhosts[v].aliases.extend(args.iter().cloned());
                }
            }
            "sslengine" => self.scope().engine = Some(arg.eq_ignore_ascii_case("on")),
            "sslcertificatefile" => {
                let p = path();
                self.scope().cert.get_or_insert(p);
            }
            "sslcertificatekeyfile" => {
                let p = path();
                self.scope().key.get_or_insert(p);
            }
            "sslcertificatechainfile" => {
                let p = path();
                self.scope().chain.get_or_insert(p);
            }
            "documentroot" => {
                let p = path();
                self.scope().docroot.get_or_insert(p);
            }
            _ => {}
        }
        Ok(())
    }

    /// The scope directives apply to: the open vhost, else the global one.
    fn scope(&mut self) -> &mut Scope {
        match self.current {
            Some(v) => &mut self.vhosts[v].scope,
            None => &mut self.global,
        }
    }

    fn follow(&mut self, pattern: &str, depth: usize) -> Result<(), LimitExceeded> {
        let Some(load) = self.load.as_mut() else {
            return Ok(());
        };
        if depth + 1 > self.budget.limits.depth {
            return Err(Budget::exceeded(Limit::Depth(self.budget.limits.depth), pattern));
        }
        for (path, text) in load(pattern) {
            self.budget.load(&path, text.len(), depth + 1)?;
            self.read(&path, &text, depth + 1)?;
        }
        Ok(())
    }

    fn sites(self) -> Vec<Site> {
        let g = &self.global;
        self.vhosts
            .into_iter()
            .map(|v| {
                let engine = v.scope.engine.or(g.engine).unwrap_or(false);
                let cert = v.scope.cert.or_else(|| g.cert.clone());
                let ports: Vec<Option<u16>> = v.addrs.iter().map(|a| apache_addr_port(a)).collect();
                let tls = engine || (cert.is_some() && ports.contains(&Some(443)));
                let port = if tls && !engine {
                    Some(443)
                } else {
                    ports.iter().flatten().next().copied()
                };
                let mut names = Names::default();
                for n in v.server_name.iter().chain(&v.aliases) {
                    names.push(n);
                }
                Site {
                    file: v.file,
                    line: v.line,
                    names: names.list,
                    listen: v.addrs,
                    tls,
                    port,
                    cert_path: cert,
                    key_path: v.scope.key.or_else(|| g.key.clone()),
                    chain_path: v.scope.chain.or_else(|| g.chain.clone()),
                    document_root: v.scope.docroot.or_else(|| g.docroot.clone()),
                }
            })
            .collect()
    }
}

/// Port of a `<VirtualHost>` address (`*:443`, `_default_:443`, `[::1]:8443`); `None` without one
/// (`*`, `192.0.2.1`) or for `*:*`.
fn apache_addr_port(addr: &str) -> Option<u16> {
    let port = match addr.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.1.strip_prefix(':')?,
        None => addr.rsplit_once(':')?.1,
    };
    parse_port(port)
}

/// The host of a `ServerName`: `https://www.example.com:443` → `www.example.com`.
fn server_name_host(value: &str) -> &str {
    let v = value.split_once("://").map_or(value, |(_, rest)| rest);
    if v.starts_with('[') {
        if let Some(end) = v.find(']') {
            return &v[..=end];
        }
    }
    match v.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NGINX_ROOT: &str = "/etc/nginx";
    const APACHE_ROOT: &str = "/etc/apache2";

    fn inc(flavor: Flavor, file: &str, content: &str, root: &str) -> Vec<String> {
        includes(flavor, file, content, root, &mut Budget::new(Limits::DEFAULT)).expect("within the limits")
    }

    fn follow(
        flavor: Flavor,
        file: &str,
        content: &str,
        root: &str,
        load: &mut dyn FnMut(&str) -> Vec<(String, String)>,
    ) -> Vec<Site> {
        parse_sites_following(flavor, file, content, root, load, &mut Budget::new(Limits::DEFAULT))
            .expect("within the limits")
    }

    fn nginx(text: &str) -> Vec<Site> {
        parse_sites(Flavor::Nginx, "/etc/nginx/sites-enabled/default", text, NGINX_ROOT)
    }

    fn apache(text: &str) -> Vec<Site> {
        parse_sites(
            Flavor::Apache,
            "/etc/apache2/sites-enabled/site.conf",
            text,
            APACHE_ROOT,
        )
    }

    /// Debian's `sites-available/default` with its SSL lines uncommented.
    const DEBIAN_DEFAULT: &str = r#"##
# You should look at the following URL's in order to grasp a solid understanding
# of Nginx configuration files in order to fully unleash the power of Nginx.
##

# Default server configuration
#
server {
	listen 80 default_server;
	listen [::]:80 default_server;

	# SSL configuration
	#
	listen 443 ssl default_server;
	listen [::]:443 ssl default_server;
	#
	# Note: You should disable gzip for SSL traffic.
	# See: https://bugs.debian.org/773332
	#
	# Self signed certs generated by the ssl-cert package
	# Don't use them in a production server!
	#
	include snippets/snakeoil.conf;

	root /var/www/html;

	# Add index.php to the list if you are using PHP
	index index.html index.htm index.nginx-debian.html;

	server_name _;

	location / {
		# First attempt to serve request as file, then
		# as directory, then fall back to displaying a 404.
		try_files $uri $uri/ =404;
	}

	# pass PHP scripts to FastCGI server
	#
	#location ~ \.php$ {
	#	include snippets/fastcgi-php.conf;
	#
	#	# With php-fpm (or other unix sockets):
	#	fastcgi_pass unix:/run/php/php7.4-fpm.sock;
	#}
}
"#;

    const SNAKEOIL: &str = "# Self signed certificates generated by the ssl-cert package\n\
        # Don't use them in a production server!\n\n\
        ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n\
        ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n";

    #[test]
    fn debian_default_site_listens_on_443_with_ssl() {
        let sites = nginx(DEBIAN_DEFAULT);
        assert_eq!(
            sites,
            [Site {
                file: "/etc/nginx/sites-enabled/default".into(),
                line: 8,
                names: vec![],
                listen: vec![
                    "80 default_server".into(),
                    "[::]:80 default_server".into(),
                    "443 ssl default_server".into(),
                    "[::]:443 ssl default_server".into(),
                ],
                tls: true,
                port: Some(443),
                cert_path: None,
                key_path: None,
                chain_path: None,
                document_root: Some("/var/www/html".into()),
            }]
        );
        assert_eq!(
            inc(
                Flavor::Nginx,
                "/etc/nginx/sites-enabled/default",
                DEBIAN_DEFAULT,
                NGINX_ROOT
            ),
            ["/etc/nginx/snippets/snakeoil.conf"],
            "the commented-out fastcgi include is not one"
        );
    }

    #[test]
    fn following_reads_the_snakeoil_snippet_inside_the_server() {
        let mut asked = Vec::new();
        let mut load = |p: &str| {
            asked.push(p.to_string());
            match p {
                "/etc/nginx/snippets/snakeoil.conf" => vec![(p.to_string(), SNAKEOIL.to_string())],
                _ => vec![],
            }
        };
        let sites = follow(
            Flavor::Nginx,
            "/etc/nginx/sites-enabled/default",
            DEBIAN_DEFAULT,
            NGINX_ROOT,
            &mut load,
        );
        assert_eq!(asked, ["/etc/nginx/snippets/snakeoil.conf"]);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].file, "/etc/nginx/sites-enabled/default");
        assert_eq!(
            sites[0].cert_path.as_deref(),
            Some("/etc/ssl/certs/ssl-cert-snakeoil.pem")
        );
        assert_eq!(
            sites[0].key_path.as_deref(),
            Some("/etc/ssl/private/ssl-cert-snakeoil.key")
        );
    }

    const CERTBOT: &str = r#"server {
    server_name example.com www.example.com;
    root /var/www/example;
    index index.html;

    location / {
        try_files $uri $uri/ =404;
    }

    listen [::]:443 ssl ipv6only=on; # managed by Certbot
    listen 443 ssl; # managed by Certbot
    ssl_certificate /etc/letsencrypt/live/example.com/fullchain.pem; # managed by Certbot
    ssl_certificate_key /etc/letsencrypt/live/example.com/privkey.pem; # managed by Certbot
    include /etc/letsencrypt/options-ssl-nginx.conf; # managed by Certbot
    ssl_dhparam /etc/letsencrypt/ssl-dhparams.pem; # managed by Certbot

}
server {
    if ($host = www.example.com) {
        return 301 https://$host$request_uri;
    } # managed by Certbot


    if ($host = example.com) {
        return 301 https://$host$request_uri;
    } # managed by Certbot


    listen 80;
    listen [::]:80;

    server_name example.com www.example.com;
    return 404; # managed by Certbot
}
"#;

    #[test]
    fn certbot_managed_file_has_a_tls_site_and_its_redirect() {
        let sites = nginx(CERTBOT);
        assert_eq!(sites.len(), 2);
        assert_eq!(
            sites[0],
            Site {
                file: "/etc/nginx/sites-enabled/default".into(),
                line: 1,
                names: vec!["example.com".into(), "www.example.com".into()],
                listen: vec!["[::]:443 ssl ipv6only=on".into(), "443 ssl".into()],
                tls: true,
                port: Some(443),
                cert_path: Some("/etc/letsencrypt/live/example.com/fullchain.pem".into()),
                key_path: Some("/etc/letsencrypt/live/example.com/privkey.pem".into()),
                chain_path: None,
                document_root: Some("/var/www/example".into()),
            }
        );
        assert_eq!(sites[1].line, 18);
        assert_eq!(sites[1].names, ["example.com", "www.example.com"]);
        assert_eq!(sites[1].listen, ["80", "[::]:80"]);
        assert!(!sites[1].tls);
        assert_eq!(sites[1].port, Some(80));
        assert_eq!(sites[1].cert_path, None);
    }

    const NGINX_CONF: &str = r#"user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
	worker_connections 768;
	# multi_accept on;
}

http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;

	ssl_protocols TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;
	ssl_certificate certs/wildcard.pem;
	ssl_certificate_key "certs/wild card.key";

	access_log /var/log/nginx/access.log;
	gzip on;

	server {
		listen 443 ssl http2;
		server_name "app.example.com" 'api.example.com' app.example.com;
		location /api {
			proxy_pass http://127.0.0.1:8080;
			if ($request_method = POST) { return 405; }
		}
	}

	include /etc/nginx/conf.d/*.conf;
	include sites-enabled/*;
}

stream {
	include streams/*.conf;
	server {
		listen 12345 ssl;
		proxy_pass backend;
		ssl_certificate /etc/ssl/stream.pem;
	}
}

#mail {
#	server {
#		listen localhost:143;
#	}
#}
"#;

    #[test]
    fn http_level_certificate_is_inherited_and_stream_servers_are_not_sites() {
        let sites = parse_sites(Flavor::Nginx, "/etc/nginx/nginx.conf", NGINX_CONF, NGINX_ROOT);
        assert_eq!(sites.len(), 1, "{sites:?}");
        let s = &sites[0];
        assert_eq!(s.line, 27);
        assert_eq!(s.names, ["app.example.com", "api.example.com"]);
        assert_eq!(s.listen, ["443 ssl http2"]);
        assert!(s.tls);
        assert_eq!(s.port, Some(443));
        assert_eq!(s.cert_path.as_deref(), Some("/etc/nginx/certs/wildcard.pem"));
        assert_eq!(s.key_path.as_deref(), Some("/etc/nginx/certs/wild card.key"));
        assert_eq!(
            inc(Flavor::Nginx, "/etc/nginx/nginx.conf", NGINX_CONF, NGINX_ROOT),
            [
                "/etc/nginx/modules-enabled/*.conf",
                "/etc/nginx/mime.types",
                "/etc/nginx/conf.d/*.conf",
                "/etc/nginx/sites-enabled/*",
            ],
            "includes inside stream {{}} cannot hold web sites"
        );
    }

    #[test]
    fn following_from_nginx_conf_inherits_across_files() {
        let site = "server {\n  listen 443;\n  server_name shop.example.com;\n}\nserver { listen 8080; }\n";
        let stream = "server { listen 9999 ssl; ssl_certificate /x.pem; }\n";
        let mut load = |p: &str| match p {
            "/etc/nginx/sites-enabled/*" => vec![
                ("/etc/nginx/sites-enabled/a".to_string(), String::new()),
                ("/etc/nginx/sites-enabled/shop".to_string(), site.to_string()),
            ],
            "/etc/nginx/streams/*.conf" => vec![("/etc/nginx/streams/s.conf".to_string(), stream.to_string())],
            _ => vec![],
        };
        let sites = follow(
            Flavor::Nginx,
            "/etc/nginx/nginx.conf",
            NGINX_CONF,
            NGINX_ROOT,
            &mut load,
        );
        let files: Vec<(&str, usize)> = sites.iter().map(|s| (s.file.as_str(), s.line)).collect();
        assert_eq!(
            files,
            [
                ("/etc/nginx/nginx.conf", 27),
                ("/etc/nginx/sites-enabled/shop", 1),
                ("/etc/nginx/sites-enabled/shop", 5)
            ]
        );
        let shop = &sites[1];
        assert_eq!(shop.names, ["shop.example.com"]);
        assert!(shop.tls, "port 443 with the inherited http-level certificate");
        assert_eq!(shop.cert_path.as_deref(), Some("/etc/nginx/certs/wildcard.pem"));
        assert!(!sites[2].tls, "a certificate alone does not make port 8080 TLS");
        assert_eq!(sites[2].port, Some(8080));
    }

    #[test]
    fn include_loops_end_at_a_bound_naming_it_and_the_file() {
        let text = "http { include /etc/nginx/loop.conf; server { listen 443 ssl; } }";
        let mut calls = 0;
        let mut load = |p: &str| {
            calls += 1;
            vec![(
                p.to_string(),
                "include loop.conf; include loop.conf; server { listen 80; }".to_string(),
            )]
        };
        let mut budget = Budget::new(Limits::DEFAULT);
        let e = parse_sites_following(
            Flavor::Nginx,
            "/etc/nginx/nginx.conf",
            text,
            NGINX_ROOT,
            &mut load,
            &mut budget,
        )
        .unwrap_err();
        assert!(matches!(e.limit, Limit::Loads(1024) | Limit::Depth(16)), "{e}");
        assert_eq!(e.file, "/etc/nginx/loop.conf");
        assert!(calls <= 1024, "{calls}");
        assert!(e.to_string().contains("/etc/nginx/loop.conf"), "{e}");

        let mut load = |p: &str| vec![(p.to_string(), "Include again.conf\nInclude again.conf\n".to_string())];
        let mut budget = Budget::new(Limits::DEFAULT);
        let e = parse_sites_following(
            Flavor::Apache,
            "/a.conf",
            "Include x.conf\n",
            APACHE_ROOT,
            &mut load,
            &mut budget,
        )
        .unwrap_err();
        assert!(matches!(e.limit, Limit::Loads(_) | Limit::Depth(_)), "{e}");
        assert!(budget.loads() <= 1025);

        // A single chain (each file includes the next) ends at the depth bound.
        let mut n = 0;
        let mut chain = |_: &str| {
            n += 1;
            vec![(format!("/c/{n}.conf"), "include next.conf;".to_string())]
        };
        let e = parse_sites_following(
            Flavor::Nginx,
            "/c/0.conf",
            "include next.conf;",
            "/c",
            &mut chain,
            &mut Budget::new(Limits::DEFAULT),
        )
        .unwrap_err();
        assert_eq!(e.limit, Limit::Depth(16), "{e}");
    }

    #[test]
    fn loads_count_not_files_a_self_include_with_many_directives_stops_at_the_directive_bound() {
        // The reported attack: nginx.conf includes itself twice, plus 100k directives (300 KB).
        let text = format!(
            "{}include /etc/nginx/nginx.conf;\ninclude /etc/nginx/nginx.conf;\n",
            "a;\n".repeat(100_000)
        );
        assert!(text.len() >= 300_000);
        let mut calls = 0;
        let mut load = |p: &str| {
            calls += 1;
            vec![(p.to_string(), text.clone())]
        };
        let mut budget = Budget::new(Limits::DEFAULT);
        let e = parse_sites_following(
            Flavor::Nginx,
            "/etc/nginx/nginx.conf",
            &text,
            NGINX_ROOT,
            &mut load,
            &mut budget,
        )
        .unwrap_err();
        assert_eq!(e.limit, Limit::Directives(200_000), "{e}");
        assert_eq!(e.file, "/etc/nginx/nginx.conf");
        assert!(calls <= 3, "stopped within a few loads: {calls}");
        assert!(budget.directives() <= 200_001);
        assert!(e.to_string().contains("more than 200000 directives"), "{e}");
        // Includes first: the depth bound ends it after 16 loads.
        let first = format!(
            "include /etc/nginx/nginx.conf;\ninclude /etc/nginx/nginx.conf;\n{}",
            "a;\n".repeat(100_000)
        );
        let mut calls = 0;
        let mut load = |p: &str| {
            calls += 1;
            vec![(p.to_string(), first.clone())]
        };
        let e = parse_sites_following(
            Flavor::Nginx,
            "/etc/nginx/nginx.conf",
            &first,
            NGINX_ROOT,
            &mut load,
            &mut Budget::new(Limits::DEFAULT),
        )
        .unwrap_err();
        assert_eq!(e.limit, Limit::Depth(16), "{e}");
        assert_eq!(calls, 16);

        // The same budget spans readings: includes() of each file adds up.
        let mut budget = Budget::new(Limits {
            directives: 150_000,
            ..Limits::DEFAULT
        });
        assert!(includes(Flavor::Nginx, "/x.conf", &text, NGINX_ROOT, &mut budget).is_ok());
        let e = includes(Flavor::Nginx, "/y.conf", &text, NGINX_ROOT, &mut budget).unwrap_err();
        assert_eq!((e.limit, e.file.as_str()), (Limit::Directives(150_000), "/y.conf"));

        // Bytes and time are bounds too.
        let mut budget = Budget::new(Limits {
            bytes: 1000,
            ..Limits::DEFAULT
        });
        let e = includes(Flavor::Apache, "/big.conf", &"#".repeat(1001), APACHE_ROOT, &mut budget).unwrap_err();
        assert_eq!(e.limit, Limit::Bytes(1000));
        let mut budget = Budget::new(Limits {
            time: Duration::ZERO,
            ..Limits::DEFAULT
        });
        let e = includes(Flavor::Nginx, "/slow.conf", "a;", NGINX_ROOT, &mut budget).unwrap_err();
        assert_eq!(e.limit, Limit::Time(Duration::ZERO));
    }

    #[test]
    fn nginx_listen_forms_and_tls_rules() {
        let sites = nginx(
            "server { listen 127.0.0.1:8443 ssl; listen 80; }\n\
             server { listen unix:/run/nginx.sock; }\n\
             server { listen localhost; listen [::1]; server_name a; }\n\
             server { server_name b; }\n\
             server { listen 80; listen 443; ssl_certificate /c.pem; }\n\
             server { listen 443; }\n\
             server { listen 8443; ssl on; ssl_certificate $cert_dir/x.pem; ssl_certificate_key data:$key; }\n\
             server { listen 443 quic reuseport; listen 443 ssl; }\n\
             server { listen *:99999; }\n",
        );
        let got: Vec<(bool, Option<u16>)> = sites.iter().map(|s| (s.tls, s.port)).collect();
        assert_eq!(
            got,
            [
                (true, Some(8443)),
                (false, None),
                (false, Some(80)),
                (false, Some(80)),
                (true, Some(443)),
                (false, Some(443)),
                (true, Some(8443)),
                (true, Some(443)),
                (false, None),
            ]
        );
        assert_eq!(
            sites[6].cert_path.as_deref(),
            Some("$cert_dir/x.pem"),
            "variables kept raw"
        );
        assert_eq!(sites[6].key_path.as_deref(), Some("data:$key"));
        assert_eq!(sites[3].listen, Vec::<String>::new());
    }

    #[test]
    fn first_certificate_wins_and_server_overrides_http() {
        let sites = nginx(
            "http {\n ssl on;\n ssl_certificate /http.pem;\n\
             server { listen 80; ssl off; }\n\
             server { listen 8443; ssl_certificate /rsa.pem; ssl_certificate /ecdsa.pem; ssl_certificate_key key.pem; }\n}\n",
        );
        assert_eq!(sites.len(), 2);
        assert!(!sites[0].tls, "ssl off in the server beats ssl on in http");
        assert_eq!(sites[0].cert_path.as_deref(), Some("/http.pem"));
        assert!(sites[1].tls);
        assert_eq!(sites[1].cert_path.as_deref(), Some("/rsa.pem"));
        assert_eq!(sites[1].key_path.as_deref(), Some("/etc/nginx/key.pem"));
    }

    #[test]
    fn nginx_quotes_escapes_and_comments() {
        let sites = nginx(
            "server{listen 443 ssl;server_name \"a b\\\"c\" 'x;y' a#b; # server_name ignored;\n\
             ssl_certificate \"/etc/ssl/my cert.pem\";ssl_certificate_key /k\\ey;}",
        );
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].names, ["a b\"c", "x;y", "a#b"]);
        assert_eq!(sites[0].cert_path.as_deref(), Some("/etc/ssl/my cert.pem"));
        assert_eq!(sites[0].key_path.as_deref(), Some("/k\\ey"));
        let sites = nginx(r#"server { server_name ${host}.example.com; location ~ "^/a{2}$" { } listen 80; }"#);
        assert_eq!(sites[0].names, ["${host}.example.com"]);
        assert_eq!(sites[0].listen, ["80"]);
    }

    #[test]
    fn broken_nginx_input_gives_what_was_read() {
        let sites = nginx("}} server { listen 443 ssl; server_name a.example;\n location / {\n");
        assert_eq!(sites.len(), 1, "an unterminated block's site is still reported");
        assert_eq!(sites[0].names, ["a.example"]);
        assert!(sites[0].tls);
        let sites = nginx("server { listen 80 }\nserver { server_name \"unterminated");
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].listen, ["80"]);
        assert_eq!(sites[1].names, ["unterminated"]);

        let deep = "http { ".repeat(100_000) + "server { listen 443 ssl; }";
        let sites = nginx(&deep);
        assert_eq!(sites.len(), 1, "deep nesting neither overflows nor loses the server");
        let deep = "{".repeat(200_000) + &"}".repeat(300_000);
        assert!(nginx(&deep).is_empty());
        let deep = "<IfModule x>\n".repeat(100_000);
        assert!(apache(&deep).is_empty());
    }

    const DEFAULT_SSL: &str = r#"<IfModule mod_ssl.c>
	<VirtualHost _default_:443>
		ServerAdmin webmaster@localhost

		DocumentRoot /var/www/html

		# Available loglevels: trace8, ..., trace1, debug, info, notice, warn,
		# error, crit, alert, emerg.
		#LogLevel info ssl:warn

		ErrorLog ${APACHE_LOG_DIR}/error.log
		CustomLog ${APACHE_LOG_DIR}/access.log combined

		#   SSL Engine Switch:
		#   Enable/Disable SSL for this virtual host.
		SSLEngine on

		#   A self-signed (snakeoil) certificate can be created by installing
		#   the ssl-cert package. See
		#   /usr/share/doc/apache2/README.Debian.gz for more info.
		#   If both key and certificate are stored in the same file, only the
		#   SSLCertificateFile directive is needed.
		SSLCertificateFile	/etc/ssl/certs/ssl-cert-snakeoil.pem
		SSLCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key

		#   Server Certificate Chain:
		#SSLCertificateChainFile /etc/apache2/ssl.crt/server-ca.crt

		<FilesMatch "\.(cgi|shtml|phtml|php)$">
				SSLOptions +StdEnvVars
		</FilesMatch>
		<Directory /usr/lib/cgi-bin>
				SSLOptions +StdEnvVars
		</Directory>
	</VirtualHost>
</IfModule>

# vim: syntax=apache ts=4 sw=4 sts=4 sr noet
"#;

    #[test]
    fn debian_default_ssl_vhost_inside_ifmodule() {
        assert_eq!(
            parse_sites(
                Flavor::Apache,
                "/etc/apache2/sites-enabled/default-ssl.conf",
                DEFAULT_SSL,
                APACHE_ROOT
            ),
            [Site {
                file: "/etc/apache2/sites-enabled/default-ssl.conf".into(),
                line: 2,
                names: vec![],
                listen: vec!["_default_:443".into()],
                tls: true,
                port: Some(443),
                cert_path: Some("/etc/ssl/certs/ssl-cert-snakeoil.pem".into()),
                key_path: Some("/etc/ssl/private/ssl-cert-snakeoil.key".into()),
                chain_path: None,
                document_root: Some("/var/www/html".into()),
            }]
        );
    }

    const LE_SSL: &str = r#"<IfModule mod_ssl.c>
<VirtualHost *:80>
    ServerName example.org
    Redirect permanent / https://example.org/
</VirtualHost>
<VirtualHost *:443 [::]:443>
    ServerName https://Example.org:443
    ServerAlias www.example.org \
        shop.example.org \
        example.org
    serveralias "*.cdn.example.org"
    DocumentRoot /var/www/example

    SSLCertificateFile /etc/letsencrypt/live/example.org/cert.pem
    SSLCertificateKeyFile "/etc/letsencrypt/live/example.org/privkey.pem"
    SSLCertificateChainFile /etc/letsencrypt/live/example.org/chain.pem
    Include /etc/letsencrypt/options-ssl-apache.conf
</VirtualHost>
</IfModule>
"#;

    #[test]
    fn certbot_apache_vhost_with_continued_aliases() {
        let sites = apache(LE_SSL);
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].names, ["example.org"]);
        assert!(!sites[0].tls);
        assert_eq!(sites[0].port, Some(80));
        assert_eq!(
            sites[1],
            Site {
                file: "/etc/apache2/sites-enabled/site.conf".into(),
                line: 6,
                names: vec![
                    "Example.org".into(),
                    "www.example.org".into(),
                    "shop.example.org".into(),
                    "*.cdn.example.org".into(),
                ],
                listen: vec!["*:443".into(), "[::]:443".into()],
                tls: true,
                port: Some(443),
                cert_path: Some("/etc/letsencrypt/live/example.org/cert.pem".into()),
                key_path: Some("/etc/letsencrypt/live/example.org/privkey.pem".into()),
                chain_path: Some("/etc/letsencrypt/live/example.org/chain.pem".into()),
                document_root: Some("/var/www/example".into()),
            },
            "no SSLEngine here (it is in the included options file): port 443 with a certificate"
        );
    }

    const APACHE2_CONF: &str = r#"# This is the main Apache server configuration file.
#ServerRoot "/etc/apache2"
DefaultRuntimeDir ${APACHE_RUN_DIR}
PidFile ${APACHE_PID_FILE}
Timeout 300
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Include ports.conf
<Directory />
	Options FollowSymLinks
	AllowOverride None
	Require all denied
</Directory>
AccessFileName .htaccess
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
"#;

    #[test]
    fn apache_includes_are_made_absolute_against_server_root() {
        assert_eq!(
            inc(Flavor::Apache, "/etc/apache2/apache2.conf", APACHE2_CONF, APACHE_ROOT),
            [
                "/etc/apache2/mods-enabled/*.load",
                "/etc/apache2/mods-enabled/*.conf",
                "/etc/apache2/ports.conf",
                "/etc/apache2/conf-enabled/*.conf",
                "/etc/apache2/sites-enabled/*.conf",
            ]
        );
        assert_eq!(apache_server_root(APACHE2_CONF), None, "commented out");
        let httpd = "ServerRoot \"/usr/local/apache2\"\nListen 80\n\
                     Include conf/extra/httpd-ssl.conf\nINCLUDEOPTIONAL \"/opt/site [1-3].conf\"\n";
        assert_eq!(apache_server_root(httpd).as_deref(), Some("/usr/local/apache2"));
        assert_eq!(
            inc(
                Flavor::Apache,
                "/usr/local/apache2/conf/httpd.conf",
                httpd,
                "/etc/httpd"
            ),
            ["/usr/local/apache2/conf/extra/httpd-ssl.conf", "/opt/site [1-3].conf"]
        );
    }

    #[test]
    fn apache_relative_paths_and_global_ssl_settings() {
        let text = "ServerRoot /usr/local/apache2\n\
                    SSLCertificateFile conf/server.crt\n\
                    SSLCertificateKeyFile ./conf/server.key\n\
                    <VirtualHost *:443>\n ServerName a.example:443\n</VirtualHost>\n\
                    <VirtualHost 192.0.2.1:8443>\n ServerName b.example\n SSLEngine On\n\
                      SSLCertificateChainFile conf/chain.pem\n</VirtualHost>\n\
                    <VirtualHost *>\n ServerName c.example\n SSLEngine off\n</VirtualHost>\n";
        let sites = apache(text);
        assert_eq!(sites.len(), 3);
        assert!(sites[0].tls);
        assert_eq!(sites[0].names, ["a.example"]);
        assert_eq!(
            sites[0].cert_path.as_deref(),
            Some("/usr/local/apache2/conf/server.crt")
        );
        assert_eq!(sites[0].key_path.as_deref(), Some("/usr/local/apache2/conf/server.key"));
        assert!(sites[1].tls);
        assert_eq!(sites[1].port, Some(8443));
        assert_eq!(
            sites[1].chain_path.as_deref(),
            Some("/usr/local/apache2/conf/chain.pem")
        );
        assert!(!sites[2].tls);
        assert_eq!(sites[2].port, None, "<VirtualHost *> has no port");

        let global_engine = "SSLEngine on\n<VirtualHost *:8443>\nServerName x\n</VirtualHost>\n";
        assert!(
            apache(global_engine)[0].tls,
            "SSLEngine inherited from the global scope"
        );
    }

    #[test]
    fn apache_following_reads_includes_in_place() {
        let main = "ServerRoot /srv/httpd\nSSLCertificateFile certs/global.pem\nIncludeOptional sites/*.conf\n";
        let site = "<VirtualHost *:443>\n  ServerName www.example.net\n  Include ssl-on.conf\n</VirtualHost>\n";
        let mut load = |p: &str| match p {
            "/srv/httpd/sites/*.conf" => vec![("/srv/httpd/sites/www.conf".to_string(), site.to_string())],
            "/srv/httpd/ssl-on.conf" => vec![(p.to_string(), "SSLEngine on\n".to_string())],
            _ => vec![],
        };
        let sites = follow(Flavor::Apache, "/srv/httpd/httpd.conf", main, "/etc/httpd", &mut load);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].file, "/srv/httpd/sites/www.conf");
        assert_eq!(sites[0].line, 1);
        assert!(sites[0].tls);
        assert_eq!(sites[0].cert_path.as_deref(), Some("/srv/httpd/certs/global.pem"));
    }

    #[test]
    fn apache_comments_quotes_macros_and_broken_containers() {
        let text = "  # <VirtualHost *:443>\n\
                    <Macro VHost $name>\n<VirtualHost *:443>\nServerName $name\n</VirtualHost>\n</Macro>\n\
                    Use VHost example.com\n\
                    </VirtualHost>\n\
                    <virtualhost *:443>\n  servername \"quoted.example\" # not a comment\n\
                    ServerAlias 'it''s'\n\
                    <VirtualHost *:8443>\nServerName next.example\n";
        let sites = apache(text);
        let names: Vec<&[String]> = sites.iter().map(|s| s.names.as_slice()).collect();
        assert_eq!(
            names,
            [
                &["quoted.example".to_string(), "it".into(), "s".into()][..],
                &["next.example".to_string()]
            ]
        );
        assert_eq!(sites[0].line, 9);
        assert_eq!(sites[1].line, 12, "an unterminated vhost is still reported");
    }

    #[test]
    fn continuation_lines_keep_the_first_line_number() {
        let text = "# a\n<VirtualHost \\\r\n   *:443>\r\nServerName a\\\nb.example\nSSLEngine on\n</VirtualHost>\n<VirtualHost *:1>\\";
        let sites = apache(text);
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].line, 2);
        assert_eq!(sites[0].listen, ["*:443"]);
        assert_eq!(sites[0].names, ["ab.example"]);
        assert_eq!(sites[1].line, 8);
    }

    #[test]
    fn server_names_lose_scheme_and_port() {
        assert_eq!(server_name_host("https://www.example.com:443"), "www.example.com");
        assert_eq!(server_name_host("www.example.com"), "www.example.com");
        assert_eq!(server_name_host("[2001:db8::1]:8443"), "[2001:db8::1]");
        assert_eq!(server_name_host("http://host:"), "host");
    }

    #[test]
    fn paths_are_resolved_against_the_root() {
        assert_eq!(absolute("ssl/a.pem", "/etc/nginx/"), "/etc/nginx/ssl/a.pem");
        assert_eq!(absolute("././a.pem", "/"), "/a.pem");
        assert_eq!(absolute("/abs.pem", "/etc/nginx"), "/abs.pem");
        assert_eq!(absolute("${SSL_DIR}/a.pem", "/etc/apache2"), "${SSL_DIR}/a.pem");
        assert_eq!(absolute("pkcs11:token=x", "/etc/apache2"), "pkcs11:token=x");
        assert_eq!(absolute("C:/nginx/a.pem", "/etc/nginx"), "C:/nginx/a.pem");
        assert_eq!(absolute("a.pem", ""), "a.pem");
    }

    #[test]
    fn globs_match_like_glob3() {
        assert!(glob_match("/etc/nginx/conf.d/*.conf", "default.conf"));
        assert!(!glob_match("*.conf", "default.conf.bak"));
        assert!(!glob_match("*", ".hidden"), "a leading dot needs a literal dot");
        assert!(glob_match(".*", ".hidden"));
        assert!(glob_match("site?.conf", "site1.conf"));
        assert!(!glob_match("site?.conf", "site.conf"));
        assert!(glob_match("[ab].conf", "b.conf"));
        assert!(!glob_match("[ab].conf", "c.conf"));
        assert!(glob_match("[!ab].conf", "c.conf"));
        assert!(glob_match("[^a-c]x", "dx"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(glob_match("[]]", "]"));
        assert!(glob_match("[a-]", "-"));
        assert!(glob_match("[ab", "[ab"), "an unclosed set is literal");
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*a*b*c", "xxaxxbxxc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxx"));
        assert!(glob_match("*", ""), "an empty name matches *");
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("sites-enabled/*", "/etc/nginx/sites-enabled/shop"));
    }

    #[test]
    fn default_main_configs_start_with_the_distribution_paths() {
        assert_eq!(default_main_configs(Flavor::Nginx)[0], "/etc/nginx/nginx.conf");
        assert_eq!(
            default_main_configs(Flavor::Apache)[..2],
            ["/etc/apache2/apache2.conf", "/etc/httpd/conf/httpd.conf"]
        );
    }

    /// One generated site: names, address prefix, port, ssl flag / SSLEngine, paths.
    #[derive(Debug, Clone)]
    struct Spec {
        names: Vec<String>,
        addr: &'static str,
        port: u16,
        ssl: bool,
        cert: Option<String>,
        key: Option<String>,
        chain: Option<String>,
        quote: bool,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let path = "(/[a-z0-9_.-]{1,8}){1,3}|[a-z0-9_-]{1,8}(/[a-z0-9_.-]{1,8}){0,2}";
        (
            prop::collection::vec("[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){1,2}|\\*\\.[a-z]{1,8}\\.com", 0..5),
            prop::sample::select(vec!["", "*:", "127.0.0.1:", "[::]:"]),
            prop_oneof![Just(443u16), Just(80u16), 1u16..=65535],
            any::<bool>(),
            prop::option::of(path),
            prop::option::of(path),
            prop::option::of(path),
            any::<bool>(),
        )
            .prop_map(|(names, addr, port, ssl, cert, key, chain, quote)| Spec {
                names,
                addr,
                port,
                ssl,
                cert,
                key,
                chain,
                quote,
            })
    }

    fn dedup(names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out
    }

    fn q(s: &str, quote: bool) -> String {
        if quote {
            format!("\"{s}\"")
        } else {
            s.to_string()
        }
    }

    fn render_nginx(specs: &[Spec], wrap: bool, file: &str) -> (String, Vec<Site>) {
        let mut text = String::from("# generated\n");
        let mut expected = Vec::new();
        if wrap {
            text.push_str("http {\n  include mime.types;\n");
        }
        for s in specs {
            let line = text.matches('\n').count() + 1;
            text.push_str("  server {\n");
            let listen = format!("{}{}{}", s.addr, s.port, if s.ssl { " ssl" } else { "" });
            text.push_str(&format!("    listen {listen}; # comment {{ }} ;\n"));
            if !s.names.is_empty() {
                let names: Vec<String> = s.names.iter().map(|n| q(n, s.quote)).collect();
                text.push_str(&format!("    server_name {};\n", names.join(" ")));
            }
            text.push_str("    location / { root /var/www; }\n");
            if let Some(c) = &s.cert {
                text.push_str(&format!("    ssl_certificate {};\n", q(c, s.quote)));
            }
            if let Some(k) = &s.key {
                text.push_str(&format!("    ssl_certificate_key {};\n", q(k, s.quote)));
            }
            text.push_str("  }\n\n");
            let cert = s.cert.as_deref().map(|c| absolute(c, NGINX_ROOT));
            expected.push(Site {
                file: file.to_string(),
                line,
                names: dedup(&s.names),
                listen: vec![listen],
                tls: s.ssl || (s.port == 443 && cert.is_some()),
                port: Some(s.port),
                cert_path: cert,
                key_path: s.key.as_deref().map(|k| absolute(k, NGINX_ROOT)),
                chain_path: None,
                document_root: None,
            });
        }
        if wrap {
            text.push_str("}\n");
        }
        (text, expected)
    }

    fn render_apache(specs: &[Spec], wrap: bool, file: &str) -> (String, Vec<Site>) {
        let mut text = String::from("# generated\nListen 443\n");
        let mut expected = Vec::new();
        if wrap {
            text.push_str("<IfModule mod_ssl.c>\n");
        }
        for s in specs {
            let line = text.matches('\n').count() + 1;
            let addr = if s.addr.is_empty() { "*:" } else { s.addr };
            let listen = format!("{addr}{}", s.port);
            text.push_str(&format!("<VirtualHost {listen}>\n"));
            if let Some((first, rest)) = s.names.split_first() {
                text.push_str(&format!("    ServerName {}\n", q(first, s.quote)));
                if !rest.is_empty() {
                    let rest: Vec<String> = rest.iter().map(|n| q(n, s.quote)).collect();
                    text.push_str(&format!("    serveralias {}\n", rest.join(" \\\n        ")));
                }
            }
            text.push_str("    <Directory /var/www>\n        Require all granted\n    </Directory>\n");
            if s.ssl {
                text.push_str("    SSLEngine on\n");
            }
            for (directive, value) in [
                ("SSLCertificateFile", &s.cert),
                ("sslcertificatekeyfile", &s.key),
                ("SSLCertificateChainFile", &s.chain),
            ] {
                if let Some(v) = value {
                    text.push_str(&format!("    {directive} {}\n", q(v, s.quote)));
                }
            }
            text.push_str("</VirtualHost>\n\n");
            let cert = s.cert.as_deref().map(|c| absolute(c, APACHE_ROOT));
            expected.push(Site {
                file: file.to_string(),
                line,
                names: dedup(&s.names),
                listen: vec![listen],
                tls: s.ssl || (s.port == 443 && cert.is_some()),
                port: Some(s.port),
                cert_path: cert,
                key_path: s.key.as_deref().map(|k| absolute(k, APACHE_ROOT)),
                chain_path: s.chain.as_deref().map(|c| absolute(c, APACHE_ROOT)),
                document_root: None,
            });
        }
        if wrap {
            text.push_str("</IfModule>\n");
        }
        (text, expected)
    }

    /// Pieces of both syntaxes, to make soup that reaches deep into the parsers.
    fn soup() -> impl Strategy<Value = String> {
        let pieces = vec![
            "server",
            "http",
            "stream",
            "mail",
            "if",
            "{",
            "}",
            ";",
            " ",
            "\n",
            "\t",
            "#",
            "\"",
            "'",
            "\\",
            "$",
            "${",
            "listen",
            "443",
            "ssl",
            "on",
            "[::]:",
            "unix:",
            "server_name",
            "_",
            "ssl_certificate",
            "ssl_certificate_key",
            "include",
            "a.pem",
            "/x",
            "<VirtualHost *:443>",
            "</VirtualHost>",
            "<",
            ">",
            "</",
            "<IfModule m>",
            "</IfModule>",
            "<Macro",
            "</Macro>",
            "ServerName",
            "ServerAlias",
            "SSLEngine",
            "SSLCertificateFile",
            "SSLCertificateKeyFile",
            "SSLCertificateChainFile",
            "Include",
            "ServerRoot",
            "\\\n",
            "\r\n",
            "é",
            "*",
            "?",
            "[",
            "]",
            "!",
            ":",
        ];
        prop::collection::vec(prop::sample::select(pieces), 0..300).prop_map(|v| v.concat())
    }

    fn check_never_panics(text: &str) -> Result<(), TestCaseError> {
        let max_line = text.matches('\n').count() + 1;
        for flavor in [Flavor::Nginx, Flavor::Apache] {
            for site in parse_sites(flavor, "/f.conf", text, "/r") {
                prop_assert!(site.line >= 1 && site.line <= max_line, "{site:?}");
                prop_assert!(site.names.iter().all(|n| !n.is_empty() && n != "_"));
                prop_assert_eq!(site.file.as_str(), "/f.conf");
                if flavor == Flavor::Nginx {
                    prop_assert!(site.chain_path.is_none());
                }
            }
            let _ = includes(flavor, "/f.conf", text, "/r", &mut Budget::new(Limits::DEFAULT));
            let mut load = |_: &str| vec![("/g.conf".to_string(), text.to_string())];
            let _ = parse_sites_following(
                flavor,
                "/f.conf",
                text,
                "/r",
                &mut load,
                &mut Budget::new(Limits::DEFAULT),
            );
        }
        let _ = apache_server_root(text);
        let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
        let _ = glob_match(a, b);
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
            check_never_panics(&text)?;
        }

        #[test]
        fn never_panics_on_byte_soup(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            check_never_panics(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn never_panics_on_syntax_soup(text in soup()) {
            check_never_panics(&text)?;
        }

        #[test]
        fn nginx_round_trip(specs in prop::collection::vec(spec(), 0..6), wrap in any::<bool>()) {
            let (text, expected) = render_nginx(&specs, wrap, "/etc/nginx/conf.d/gen.conf");
            let got = parse_sites(Flavor::Nginx, "/etc/nginx/conf.d/gen.conf", &text, NGINX_ROOT);
            prop_assert_eq!(got, expected, "{}", text);
        }

        #[test]
        fn apache_round_trip(specs in prop::collection::vec(spec(), 0..6), wrap in any::<bool>()) {
            let (text, expected) = render_apache(&specs, wrap, "/etc/apache2/sites-enabled/gen.conf");
            let got = parse_sites(Flavor::Apache, "/etc/apache2/sites-enabled/gen.conf", &text, APACHE_ROOT);
            prop_assert_eq!(got, expected, "{}", text);
        }

        #[test]
        fn literal_names_match_themselves_and_star_matches_all_visible(name in "[a-zA-Z0-9_.-]{0,20}") {
            prop_assert!(glob_match(&name, &name));
            prop_assert_eq!(glob_match("*", &name), !name.starts_with('.'));
            prop_assert_eq!(glob_match("*.conf", &name), name.ends_with(".conf") && !name.starts_with('.'));
            let all_any = "?".repeat(name.chars().count());
            prop_assert_eq!(glob_match(&all_any, &name), !name.starts_with('.'));
        }
    }
}
