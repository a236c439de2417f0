//! Apache httpd: logical lines and words, `<VirtualHost>` containers with their SSL scope
//! (global settings inherited), `ServerRoot`, and includes read where they stand.

use super::{absolute, parse_port, Budget, Limit, LimitExceeded, Loader, Names, Site};

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

pub(super) struct ApacheReader<'a, 'b> {
    root: String,
    pub(super) server_root: Option<String>,
    global: Scope,
    vhosts: Vec<VHost>,
    /// The open `<VirtualHost>`.
    current: Option<usize>,
    /// Nesting of `<Macro>` containers: templates, not configuration, skipped.
    macro_depth: usize,
    pub(super) includes: Vec<String>,
    load: Loader<'a>,
    budget: &'b mut Budget,
}

impl<'a, 'b> ApacheReader<'a, 'b> {
    pub(super) fn new(root: &str, load: Loader<'a>, budget: &'b mut Budget) -> Self {
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

    pub(super) fn read(&mut self, file: &str, text: &str, depth: usize) -> Result<(), LimitExceeded> {
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

    pub(super) fn sites(self) -> Vec<Site> {
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
pub(super) fn server_name_host(value: &str) -> &str {
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
