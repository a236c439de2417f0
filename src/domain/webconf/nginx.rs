//! nginx: tokens, a flat arena of directives and blocks (includes read where they stand), and
//! the sites of `server` blocks in `http {}` with the values they inherit.

use std::collections::HashMap;

use super::{absolute, parse_port, Budget, Limit, LimitExceeded, Loader, Names, Site};

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

pub(super) struct NginxReader<'a, 'b> {
    nodes: Vec<Node>,
    files: Vec<String>,
    root: String,
    load: Loader<'a>,
    budget: &'b mut Budget,
}

impl<'a, 'b> NginxReader<'a, 'b> {
    pub(super) fn new(root: &str, load: Loader<'a>, budget: &'b mut Budget) -> Self {
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
    pub(super) fn read(
        &mut self,
        file: &str,
        text: &str,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), LimitExceeded> {
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

    pub(super) fn includes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.block && !n.in_stream && n.name == "include")
            .filter_map(|n| n.args.first())
            .map(|a| absolute(a, &self.root))
            .collect()
    }

    pub(super) fn sites(&self) -> Vec<Site> {
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
