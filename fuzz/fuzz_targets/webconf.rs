//! Fuzzes the web server config reader (`certdeck::domain::webconf`) with untrusted text.
//!
//! The input (lossily decoded as UTF-8) is read as an nginx and as an Apache file: the readers
//! must never panic nor hang, report only sites with sane line numbers and names, read the same
//! sites whether or not a loader that finds nothing is given, and end include loops (every
//! include is answered with the input itself). Before a first NUL byte, the input is also a glob
//! pattern matched against the file name after it.

#![no_main]

use certdeck::domain::webconf::{apache_server_root, glob_match, includes, parse_sites, parse_sites_following, Flavor};
use libfuzzer_sys::fuzz_target;

/// The reader's limit on files read through a loader (`webconf::MAX_INCLUDED_FILES`, private).
const MAX_INCLUDED_FILES: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let max_line = text.matches('\n').count() + 1;
    for flavor in [Flavor::Nginx, Flavor::Apache] {
        let sites = parse_sites(flavor, "/fuzz.conf", &text, "/etc/x");
        for s in &sites {
            assert_eq!(s.file, "/fuzz.conf");
            assert!(s.line >= 1 && s.line <= max_line, "line {} of {max_line}", s.line);
            let mut seen = std::collections::HashSet::new();
            for n in &s.names {
                assert!(!n.is_empty() && n != "_", "name {n:?} should be dropped");
                assert!(seen.insert(n.to_ascii_lowercase()), "duplicate name {n:?}");
            }
            if flavor == Flavor::Nginx {
                assert!(s.chain_path.is_none());
            }
        }

        let mut nothing = |_: &str| Vec::new();
        let same = parse_sites_following(flavor, "/fuzz.conf", &text, "/etc/x", &mut nothing);
        assert_eq!(same, sites, "a loader that finds nothing changes nothing");

        let mut calls = 0;
        let mut itself = |_: &str| {
            calls += 1;
            vec![("/inc.conf".to_string(), text.to_string())]
        };
        let all = parse_sites_following(flavor, "/fuzz.conf", &text, "/etc/x", &mut itself);
        assert!(calls <= MAX_INCLUDED_FILES, "{calls} loads");
        assert!(all.iter().all(|s| s.file == "/fuzz.conf" || s.file == "/inc.conf"));

        let found = includes(flavor, "/fuzz.conf", &text, "/etc/x");
        if flavor == Flavor::Nginx {
            // Joined to the root unless absolute, a $variable or a scheme/drive value (an Apache
            // file can set a relative ServerRoot, so only nginx's are checked).
            for p in &found {
                assert!(p.is_empty() || p.starts_with(['/', '$']) || p.contains(':'), "{p:?}");
            }
        }
    }
    let _ = apache_server_root(&text);

    if let Some(nul) = data.iter().position(|b| *b == 0) {
        // File names are short: bounding them keeps the (quadratic) matcher quick.
        let pattern = String::from_utf8_lossy(&data[..nul.min(256)]);
        let rest = &data[nul + 1..];
        let name = String::from_utf8_lossy(&rest[..rest.len().min(256)]);
        let _ = glob_match(&pattern, &name);
        let last = name.rsplit('/').next().unwrap_or_default();
        assert_eq!(glob_match("*", &name), !last.starts_with('.'));
        if !name.contains(['*', '?', '[', '\\']) {
            assert!(glob_match(&name, &name), "a literal name matches itself");
        }
    }
});
