//! Include patterns: glob(3) matching of a file name against a pattern's last component, as
//! nginx and httpd expand `include` / `Include` patterns.

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
