//! Unit tests of quoting, connection identity and command output.

use super::command::Tail;
use super::*;

#[test]
fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
    assert_eq!(shell_quote("/etc/nginx/ssl/a.crt"), "/etc/nginx/ssl/a.crt");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
}

#[test]
fn targets_share_a_connection_only_when_everything_that_reaches_the_host_is_equal() {
    let t = |host: &str, pw: &str| SshTarget {
        label: format!("{host}-{pw}"),
        host: host.into(),
        port: 22,
        user: "deploy".into(),
        auth: SshAuth::Password(Zeroizing::new(pw.into())),
        host_key: HostKeyPolicy::Pinned("SHA256:x".into()),
        jump: None,
    };
    assert_eq!(
        t("Web1", "a").identity(),
        t("web1", "a").identity(),
        "labels and case do not matter"
    );
    assert_ne!(t("web1", "a").identity(), t("web1", "b").identity());
    assert_ne!(t("web1", "a").identity(), t("web2", "a").identity());
    let mut via = t("web1", "a");
    via.jump = Some(Box::new(t("bastion", "a")));
    assert_ne!(via.identity(), t("web1", "a").identity());
}

#[test]
fn command_output_keeps_only_the_tail_of_each_stream() {
    let mut t = Tail::default();
    t.push(b"head ");
    for _ in 0..(COMMAND_OUTPUT_KEEP / 4) {
        t.push(b"yyy\n");
    }
    t.push(b"the end");
    assert!(t.dropped);
    assert!(t.buf.len() <= COMMAND_OUTPUT_KEEP);
    let text = t.text();
    assert!(
        text.starts_with('…') && text.ends_with("yyy\nthe end"),
        "{}",
        &text[..20]
    );
    assert!(!text.contains("head"));
    // One chunk larger than what is kept.
    let mut t = Tail::default();
    t.push(&vec![b'x'; COMMAND_OUTPUT_KEEP * 2]);
    assert_eq!(t.buf.len(), COMMAND_OUTPUT_KEEP);
    let mut t = Tail::default();
    t.push(b"short");
    assert!(!t.dropped);
    assert_eq!(t.text(), "short");
}

#[test]
fn excerpt_keeps_the_tail() {
    let o = CommandOutput {
        code: 1,
        stdout: String::new(),
        stderr: "line one\nline two\n".into(),
        truncated: false,
    };
    assert_eq!(o.excerpt(100), "line one | line two");
    assert_eq!(o.excerpt(4), "… two");
}
