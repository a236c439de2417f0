//! Text for cells: display-width truncation and padding (CJK takes two columns), times in the
//! user's timezone and durations such as "in 12 d" or "3 h ago".

use chrono::{DateTime, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::i18n::Catalog;

/// The display width of a string in terminal columns.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` columns, ending with `…` when cut; never splits a wide character.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Cuts or pads `s` with spaces to exactly `w` columns.
pub fn fit(s: &str, w: usize) -> String {
    let mut t = truncate(s, w);
    let pad = w.saturating_sub(width(&t));
    t.extend(std::iter::repeat_n(' ', pad));
    t
}

/// A UTC time in `tz`, as `YYYY-MM-DD HH:MM`.
pub fn local_time(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A time relative to `now`: "in 12 d", "3 h ago", "now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>, cat: &Catalog) -> String {
    let secs = (t - now).num_seconds();
    let abs = secs.unsigned_abs();
    let (n, unit) = if abs < 60 {
        return cat.get("time.now").to_string();
    } else if abs < 3600 {
        (abs / 60, cat.get("time.min"))
    } else if abs < 86_400 {
        (abs / 3600, cat.get("time.hour"))
    } else {
        (abs / 86_400, cat.get("time.day"))
    };
    let amount = format!("{n} {unit}");
    if secs > 0 {
        cat.fmt("time.in", &[("d", &amount)])
    } else {
        cat.fmt("time.ago", &[("d", &amount)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_text_is_cut_by_columns_not_chars() {
        assert_eq!(width("证书"), 4);
        assert_eq!(truncate("证书管理", 5), "证书…");
        assert_eq!(width(&fit("证书", 6)), 6);
        assert_eq!(fit("abcdef", 4), "abc…");
    }

    #[test]
    fn relative_times_read_naturally() {
        let cat = Catalog::load(super::super::i18n::Lang::En);
        let now = Utc::now();
        assert_eq!(
            relative(
                now + chrono::Duration::days(12) + chrono::Duration::minutes(1),
                now,
                &cat
            ),
            "in 12 d"
        );
        assert_eq!(relative(now - chrono::Duration::hours(3), now, &cat), "3 h ago");
        assert_eq!(relative(now, now, &cat), "now");
    }
}
