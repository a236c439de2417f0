//! A table's rows as a window over a keyset-paged list: only the pages around the viewport stay
//! in memory, each page remembers the cursor that fetches it again, and a refresh re-reads the
//! loaded pages so that changed and deleted rows show.

use std::collections::BTreeMap;

use super::model::{Cursor, Row};

/// Rows per fetch.
pub const PAGE_SIZE: i64 = 100;
/// Pages kept in memory on each side of the cursor's page.
const KEEP_AROUND: usize = 2;

#[derive(Debug, Clone, Default, PartialEq)]
struct PageMeta {
    /// The cursor that fetches this page (None = the first).
    start: Option<Cursor>,
    /// Rows of this page that pass the client-side filter.
    len: usize,
    /// Whether the page was ever fetched (its `len` is known).
    known: bool,
}

/// The list behind a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paged {
    metas: Vec<PageMeta>,
    rows: BTreeMap<usize, Vec<Row>>,
    /// A page came back short: the list ends there.
    exhausted: bool,
    /// The selected row (absolute index among the rows that pass the filter).
    pub cursor: usize,
    /// The first visible row.
    pub offset: usize,
}

/// A page to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// Page number.
    pub page: usize,
    /// Its start cursor.
    pub start: Option<Cursor>,
}

impl Paged {
    /// An empty list whose first page is to be fetched.
    pub fn new() -> Paged {
        Paged {
            metas: vec![PageMeta::default()],
            ..Default::default()
        }
    }

    /// Rows known to pass the filter so far (the whole count once exhausted).
    pub fn known_len(&self) -> usize {
        self.metas.iter().map(|m| m.len).sum()
    }

    /// Whether the end of the list has been reached.
    pub fn is_complete(&self) -> bool {
        self.exhausted && self.metas.iter().all(|m| m.known)
    }

    /// Whether any page was ever loaded.
    pub fn has_data(&self) -> bool {
        self.metas.first().is_some_and(|m| m.known)
    }

    /// Rows held in memory.
    pub fn resident_rows(&self) -> usize {
        self.rows.values().map(Vec::len).sum()
    }

    fn locate(&self, abs: usize) -> Option<(usize, usize)> {
        let mut start = 0;
        for (i, m) in self.metas.iter().enumerate() {
            if abs < start + m.len {
                return Some((i, abs - start));
            }
            start += m.len;
        }
        None
    }

    /// The row at an absolute index, when its page is in memory.
    pub fn row(&self, abs: usize) -> Option<&Row> {
        let (p, i) = self.locate(abs)?;
        self.rows.get(&p).and_then(|r| r.get(i))
    }

    /// The selected row.
    pub fn selected(&self) -> Option<&Row> {
        self.row(self.cursor)
    }

    /// Stores a fetched page: `rows` already filtered, `fetched` the number the store returned
    /// and `end` the cursor after its last row.
    pub fn apply(&mut self, page: usize, rows: Vec<Row>, fetched: usize, end: Option<Cursor>) {
        if page >= self.metas.len() {
            return;
        }
        let full = fetched as i64 >= PAGE_SIZE;
        self.metas[page].len = rows.len();
        self.metas[page].known = true;
        self.rows.insert(page, rows);
        match (full, end) {
            (true, Some(end)) => {
                if page + 1 == self.metas.len() {
                    self.metas.push(PageMeta {
                        start: Some(end),
                        ..Default::default()
                    });
                    self.exhausted = false;
                } else if self.metas[page + 1].start != Some(end) {
                    // Rows were added or removed before this page's end: later pages shifted.
                    self.metas.truncate(page + 1);
                    self.rows.retain(|p, _| *p <= page);
                    self.metas.push(PageMeta {
                        start: Some(end),
                        ..Default::default()
                    });
                    self.exhausted = false;
                }
            }
            _ => {
                self.metas.truncate(page + 1);
                self.rows.retain(|p, _| *p <= page);
                self.exhausted = true;
            }
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.known_len();
        if n == 0 {
            self.cursor = 0;
            self.offset = 0;
        } else if self.cursor >= n && self.is_complete() {
            self.cursor = n - 1;
        }
        if self.offset > self.cursor {
            self.offset = self.cursor;
        }
    }

    /// Moves the selection by `delta` rows, keeping it inside the known rows and the viewport
    /// of `height` rows in view.
    pub fn move_by(&mut self, delta: i64, height: usize) {
        let n = self.known_len();
        if n == 0 {
            return;
        }
        let target = (self.cursor as i64 + delta).max(0) as usize;
        self.cursor = target.min(n - 1);
        self.scroll_into_view(height);
    }

    /// Jumps to the first row.
    pub fn top(&mut self) {
        self.cursor = 0;
        self.offset = 0;
    }

    /// Jumps to the last known row (the next pages load as the end comes into view).
    pub fn bottom(&mut self, height: usize) {
        let n = self.known_len();
        self.cursor = n.saturating_sub(1);
        self.scroll_into_view(height);
    }

    /// Keeps the selection visible in a viewport of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        let h = height.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + h {
            self.offset = self.cursor + 1 - h;
        }
    }

    /// The pages to fetch so that the viewport (plus one screen ahead) is filled.
    pub fn needed(&self, height: usize) -> Vec<Need> {
        let want_to = self.offset + 2 * height.max(1);
        let mut out = Vec::new();
        let mut start = 0;
        for (i, m) in self.metas.iter().enumerate() {
            let in_view = start <= want_to && (start + m.len >= self.offset || !m.known);
            if in_view && (!m.known || !self.rows.contains_key(&i)) {
                out.push(Need {
                    page: i,
                    start: m.start,
                });
                // One unknown page at a time: its length decides where the next begins.
                if !m.known {
                    break;
                }
            }
            start += m.len;
            if start > want_to {
                break;
            }
        }
        out
    }

    /// The loaded pages, for a refresh.
    pub fn loaded(&self) -> Vec<Need> {
        self.rows
            .keys()
            .map(|p| Need {
                page: *p,
                start: self.metas[*p].start,
            })
            .collect()
    }

    /// Drops pages far from the selection.
    pub fn evict(&mut self) {
        let Some((cur, _)) = self.locate(self.cursor).or_else(|| self.locate(self.offset)) else {
            return;
        };
        let (lo, hi) = (cur.saturating_sub(KEEP_AROUND), cur + KEEP_AROUND);
        self.rows.retain(|p, _| (lo..=hi).contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::model::Cell;

    fn rows(ids: std::ops::Range<i64>) -> Vec<Row> {
        ids.rev()
            .map(|i| Row::new(i, vec![Cell::Text(format!("r{i}"))]))
            .collect()
    }

    /// Simulates a store of ids 1..=n, newest first, with pages of PAGE_SIZE.
    fn fetch(n: i64, start: Option<Cursor>) -> (Vec<Row>, usize, Option<Cursor>) {
        let top = match start {
            None => n,
            Some(Cursor::Id(id)) => id - 1,
            Some(_) => unreachable!(),
        };
        let lo = (top - PAGE_SIZE).max(0);
        let r = rows(lo + 1..top + 1);
        let end = r.last().map(|r| r.cursor);
        let len = r.len();
        (r, len, end)
    }

    fn settle(p: &mut Paged, n: i64, h: usize) {
        for _ in 0..100 {
            let needs = p.needed(h);
            if needs.is_empty() {
                return;
            }
            for need in needs {
                let (r, f, e) = fetch(n, need.start);
                p.apply(need.page, r, f, e);
            }
        }
    }

    #[test]
    fn scrolling_100k_rows_keeps_a_small_window_in_memory() {
        let n = 100_000;
        let mut p = Paged::new();
        settle(&mut p, n, 20);
        assert_eq!(p.selected().map(|r| r.id), Some(n));
        for _ in 0..2_000 {
            p.move_by(20, 20);
            settle(&mut p, n, 20);
            p.evict();
        }
        assert_eq!(p.selected().map(|r| r.id), Some(n - 40_000));
        assert!(
            p.resident_rows() <= (2 * KEEP_AROUND + 1) * PAGE_SIZE as usize,
            "{}",
            p.resident_rows()
        );
        // Back to the top: evicted pages are fetched again by their cursors.
        p.top();
        settle(&mut p, n, 20);
        assert_eq!(p.selected().map(|r| r.id), Some(n));
    }

    #[test]
    fn a_short_page_ends_the_list_and_bottom_stops_there() {
        let mut p = Paged::new();
        settle(&mut p, 150, 200);
        assert!(p.is_complete());
        assert_eq!(p.known_len(), 150);
        p.bottom(10);
        assert_eq!(p.selected().map(|r| r.id), Some(1));
    }

    #[test]
    fn a_refresh_that_finds_a_deleted_row_shrinks_the_list() {
        let mut p = Paged::new();
        settle(&mut p, 5, 10);
        p.bottom(10);
        let (mut r, _, _) = fetch(5, None);
        r.retain(|r| r.id != 1);
        let end = r.last().map(|r| r.cursor);
        let len = r.len();
        p.apply(0, r, len, end);
        assert_eq!(p.known_len(), 4);
        assert_eq!(p.selected().map(|r| r.id), Some(2));
    }
}
