//! Reading OpenSSH client config (`~/.ssh/config`) for bulk server onboarding: every concrete
//! `Host` alias with the values OpenSSH would use for it — `HostName`, `Port`, `User`,
//! `IdentityFile`, `ProxyJump` — the first value obtained winning, across every block whose
//! patterns match the alias (so `Host *` defaults apply). Never panics; what it cannot follow
//! (`Include`, `Match`) is reported with its line number.

/// One host of the config, as OpenSSH would connect to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// The alias on the `Host` line.
    pub alias: String,
    /// `HostName` (`%h` expanded), else the alias.
    pub hostname: String,
    /// `Port`, when set.
    pub port: Option<u16>,
    /// `User`, when set.
    pub user: Option<String>,
    /// The first `IdentityFile`, as written (`~` not expanded).
    pub identity_file: Option<String>,
    /// `ProxyJump` (its first hop), unless `none`.
    pub proxy_jump: Option<String>,
}

/// What could not be taken from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

struct Block {
    patterns: Vec<String>,
    /// (keyword in lower case, value, line)
    options: Vec<(String, String, usize)>,
}

/// Splits a config line into keyword and value: `Key value`, `Key=value`, `Key = "a value"`.
fn split_line(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let cut = t.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(t.len());
    let (key, rest) = t.split_at(cut);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest)
        .to_string();
    Some((key.to_ascii_lowercase(), value))
}

/// Words of a `Host` line (quoted words keep their spaces).
fn words(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// OpenSSH pattern matching: `*` any run, `?` one character (case-insensitive).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a `Host` pattern list matches `alias`: some positive pattern matches and no negated
/// one does.
fn matches(patterns: &[String], alias: &str) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, alias) {
                return false;
            }
        } else if glob(p, alias) {
            hit = true;
        }
    }
    hit
}

fn is_concrete(alias: &str) -> bool {
    !alias.starts_with('!') && !alias.contains(['*', '?'])
}

/// Parses a config text into its concrete hosts (in file order) and what was skipped.
pub fn parse(text: &str) -> (Vec<SshHost>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    // Options before any Host line apply to every host.
    let mut blocks = vec![Block {
        patterns: vec!["*".into()],
        options: Vec::new(),
    }];
    let mut in_match = false;
    let mut aliases: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some((key, value)) = split_line(raw) else {
            continue;
        };
        match key.as_str() {
            "host" => {
                in_match = false;
                let patterns = words(&value);
                if patterns.is_empty() {
                    skipped.push(Skipped {
                        line,
                        reason: "Host without a name".into(),
                    });
                }
                for p in &patterns {
                    if is_concrete(p) && !aliases.iter().any(|a| a == p) {
                        aliases.push(p.clone());
                    }
                }
                blocks.push(Block {
                    patterns,
                    options: Vec::new(),
                });
            }
            "match" => {
                in_match = true;
                skipped.push(Skipped {
                    line,
                    reason: "Match blocks are not evaluated; their options are ignored".into(),
                });
            }
            "include" => skipped.push(Skipped {
                line,
                reason: format!("Include {value} is not followed: import that file too"),
            }),
            _ if in_match => {}
            _ => {
                if let Some(b) = blocks.last_mut() {
                    b.options.push((key, value, line));
                }
            }
        }
    }
    let hosts = aliases
        .into_iter()
        .map(|alias| resolve(&blocks, alias, &mut skipped))
        .collect();
    (hosts, skipped)
}

fn resolve(blocks: &[Block], alias: String, skipped: &mut Vec<Skipped>) -> SshHost {
    let first = |key: &str| -> Option<(String, usize)> {
        blocks
            .iter()
            .filter(|b| matches(&b.patterns, &alias))
            .flat_map(|b| b.options.iter())
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.clone(), *l))
    };
    let hostname = first("hostname")
        .map(|(v, _)| v.replace("%h", &alias).replace("%%", "%"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| alias.clone());
    let port = first("port").and_then(|(v, line)| match v.parse::<u16>() {
        Ok(p) if p > 0 => Some(p),
        _ => {
            skipped.push(Skipped {
                line,
                reason: format!("Port '{v}' of {alias} is not a port number; 22 is used"),
            });
            None
        }
    });
    let user = first("user").map(|(v, _)| v).filter(|v| !v.is_empty());
    let identity_file = first("identityfile").map(|(v, _)| v).filter(|v| !v.is_empty());
    let proxy_jump = first("proxyjump")
        .map(|(v, _)| v)
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"))
        .map(|v| v.split(',').next().unwrap_or_default().trim().to_string());
    SshHost {
        alias,
        hostname,
        port,
        user,
        identity_file,
        proxy_jump,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = r#"
# defaults first match wins
Host web1 web2
    HostName %h.prod.example.com
    User deploy
    Port 2222

Host db1
  HostName=10.0.0.5
  IdentityFile ~/.ssh/db_ed25519
  IdentityFile ~/.ssh/second
  ProxyJump bastion,other

Host bastion
  HostName bastion.example.com
  ProxyJump none

Match host db1 exec "true"
  User ignored

Host *.internal !secret.internal
  User ops

Host * 
  User root
  Port 22
  IdentityFile ~/.ssh/id_rsa
Include ~/.ssh/config.d/*
"#;

    #[test]
    fn hosts_get_the_first_value_of_every_matching_block() {
        let (hosts, skipped) = parse(SAMPLE);
        let names: Vec<&str> = hosts.iter().map(|h| h.alias.as_str()).collect();
        assert_eq!(names, ["web1", "web2", "db1", "bastion"]);
        assert_eq!(
            hosts[0],
            SshHost {
                alias: "web1".into(),
                hostname: "web1.prod.example.com".into(),
                port: Some(2222),
                user: Some("deploy".into()),
                identity_file: Some("~/.ssh/id_rsa".into()),
                proxy_jump: None,
            }
        );
        assert_eq!(hosts[2].hostname, "10.0.0.5");
        assert_eq!(hosts[2].user.as_deref(), Some("root"), "Match blocks are not applied");
        assert_eq!(hosts[2].identity_file.as_deref(), Some("~/.ssh/db_ed25519"));
        assert_eq!(hosts[2].proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(hosts[3].proxy_jump, None, "ProxyJump none");
        let lines: Vec<usize> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [18, 28], "{skipped:?}");
    }

    #[test]
    fn negated_patterns_and_globs() {
        assert!(matches(&["*.internal".into(), "!secret.internal".into()], "a.internal"));
        assert!(!matches(
            &["*.internal".into(), "!secret.internal".into()],
            "secret.internal"
        ));
        assert!(glob("w?b*", "WEB-1"));
        assert!(!glob("web", "web1"));
        let (hosts, _) = parse("Host a.internal secret.internal\nHost *.internal !secret.internal\n User ops\n");
        assert_eq!(hosts[0].user.as_deref(), Some("ops"));
        assert_eq!(hosts[1].user, None);
    }

    #[test]
    fn a_bad_port_is_reported_not_guessed() {
        let (hosts, skipped) = parse("Host x\n Port 99999\n");
        assert_eq!(hosts[0].port, None);
        assert_eq!(skipped[0].line, 2);
        assert!(skipped[0].reason.contains("99999"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn written_hosts_read_back(
            entries in proptest::collection::vec(
                ("[a-z][a-z0-9-]{0,12}", "[a-z0-9.-]{1,20}", 1u16..=65535, "[a-z_][a-z0-9_]{0,8}"),
                1..8,
            )
        ) {
            let mut text = String::new();
            let mut seen = std::collections::HashSet::new();
            let mut expected = Vec::new();
            for (alias, host, port, user) in &entries {
                if !seen.insert(alias.clone()) {
                    continue;
                }
                text.push_str(&format!("Host {alias}\n  HostName {host}\n  Port={port}\n  User \"{user}\"\n\n"));
                expected.push((alias.clone(), host.clone(), *port, user.clone()));
            }
            let (hosts, skipped) = parse(&text);
            prop_assert!(skipped.is_empty());
            prop_assert_eq!(hosts.len(), expected.len());
            for (h, (alias, host, port, user)) in hosts.iter().zip(expected) {
                prop_assert_eq!(&h.alias, &alias);
                prop_assert_eq!(&h.hostname, &host);
                prop_assert_eq!(h.port, Some(port));
                prop_assert_eq!(h.user.as_deref(), Some(user.as_str()));
            }
        }
    }
}
