//! Fuzzes the OpenSSH client config reader (`certdeck::domain::ssh_config`), which reads the
//! operator's `~/.ssh/config` for bulk onboarding.
//!
//! The input (lossily decoded as UTF-8) is parsed; the reader must never panic nor hang, and
//! what it reports must be sane: only concrete aliases (no pattern, no negation), each once,
//! a host name for every alias, no port 0, skipped lines within the input, and the same answer
//! twice (no hidden state).

#![no_main]

use certdeck::domain::ssh_config::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let (hosts, skipped) = parse(&text);
    let mut seen = std::collections::HashSet::new();
    for h in &hosts {
        assert!(!h.alias.is_empty(), "empty alias");
        assert!(
            !h.alias.starts_with('!') && !h.alias.contains(['*', '?']),
            "pattern {:?} taken for a host",
            h.alias
        );
        assert!(seen.insert(h.alias.clone()), "alias {:?} twice", h.alias);
        assert!(!h.hostname.is_empty(), "no host name for {:?}", h.alias);
        assert_ne!(h.port, Some(0), "port 0 for {:?}", h.alias);
    }
    for s in &skipped {
        assert!(s.line >= 1 && s.line <= lines, "skipped line {} of {lines}", s.line);
        assert!(!s.reason.is_empty());
    }
    assert_eq!(parse(&text), (hosts, skipped), "the same input parses the same");
});
