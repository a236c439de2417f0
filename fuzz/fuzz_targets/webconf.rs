//! Fuzzes the web server config reader (`certdeck::domain::webconf`) with untrusted text: the
//! configuration of a managed server, which may be hostile.
//!
//! The input (lossily decoded as UTF-8) is read as an nginx and as an Apache file: the readers
//! must never panic nor hang, report only sites with sane line numbers and names, and read the
//! same sites whether or not a loader that finds nothing is given. Includes are then followed
//! through loaders that answer every include with the input itself, once and twice (the
//! self-including shapes of issue 14: a file that includes itself twice multiplies the loads):
//! the bounded reader must stop within its `Limits` — at most one load, one directive past the
//! bound, and no more loader calls than loads — with an error naming the bound. Before a first
//! NUL byte, the input is also a glob pattern matched against the file name after it.
//!
//! Run with `-max_len=1048576` (scripts/fuzz does) so that inputs reach those shapes: 100k
//! directives and more.

#![no_main]

use std::time::Duration;

use certdeck::domain::webconf::{
    apache_server_root, glob_match, includes, parse_sites, parse_sites_following, Budget, Flavor, Limit, Limits,
};
use libfuzzer_sys::fuzz_target;

/// Small bounds, so the fuzzer reaches each of them quickly (the promises hold for any bounds).
const LIMITS: Limits = Limits {
    loads: 64,
    depth: 8,
    bytes: 8 * 1024 * 1024,
    directives: 50_000,
    time: Duration::from_secs(30),
};

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
        let mut budget = Budget::new(Limits::DEFAULT);
        let same = parse_sites_following(flavor, "/fuzz.conf", &text, "/etc/x", &mut nothing, &mut budget);
        match same {
            Ok(same) => assert_eq!(same, sites, "a loader that finds nothing changes nothing"),
            // Only a bound can stop it: one file of at most 1 MiB has no more directives.
            Err(e) => assert!(matches!(e.limit, Limit::Directives(_) | Limit::Time(_)), "{e}"),
        }

        for copies in [1, 2] {
            let mut calls = 0usize;
            let mut itself = |_: &str| {
                calls += 1;
                vec![("/inc.conf".to_string(), text.to_string()); copies]
            };
            let mut budget = Budget::new(LIMITS);
            let all = parse_sites_following(flavor, "/fuzz.conf", &text, "/etc/x", &mut itself, &mut budget);
            assert!(budget.loads() <= LIMITS.loads + 1, "{} loads", budget.loads());
            assert!(
                budget.directives() <= LIMITS.directives + 1,
                "{} directives",
                budget.directives()
            );
            assert!(
                calls <= budget.loads(),
                "{calls} loader calls for {} loads",
                budget.loads()
            );
            match all {
                Ok(all) => assert!(all.iter().all(|s| s.file == "/fuzz.conf" || s.file == "/inc.conf")),
                Err(e) => {
                    let named = e.to_string();
                    assert!(named.contains(&e.file), "{named}");
                    match e.limit {
                        Limit::Loads(n) => assert_eq!(n, LIMITS.loads),
                        Limit::Depth(n) => assert_eq!(n, LIMITS.depth),
                        Limit::Bytes(n) => assert_eq!(n, LIMITS.bytes),
                        Limit::Directives(n) => assert_eq!(n, LIMITS.directives),
                        Limit::Time(d) => assert_eq!(d, LIMITS.time),
                    }
                }
            }
        }

        let mut budget = Budget::new(Limits::DEFAULT);
        if let Ok(found) = includes(flavor, "/fuzz.conf", &text, "/etc/x", &mut budget) {
            assert_eq!(budget.loads(), 1);
            if flavor == Flavor::Nginx {
                // Joined to the root unless absolute, a $variable or a scheme/drive value (an
                // Apache file can set a relative ServerRoot, so only nginx's are checked).
                for p in &found {
                    assert!(p.is_empty() || p.starts_with(['/', '$']) || p.contains(':'), "{p:?}");
                }
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
