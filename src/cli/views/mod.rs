//! How the CLI shows things: one table view ([`TableView`]) and one JSON view (the type's
//! serde form, or a [`serde::Serialize`] composite) per type, used by every command that prints
//! that type, plus detail views ([`FieldsView`]) for `show`. Handlers call the service and hand
//! the result to [`list`], [`show`] or a view's own render function; nothing else prints rows.
//!
//! One file per area: `certs` (certificates, deployments, exports, migration reports),
//! `servers` (servers, groups, sites, imports, deploy plans), `users` (users, API keys),
//! `tasks` (tasks, logs, schedules, health), `monitoring` (monitors, alerts, channels) and
//! `admin` (settings, audit, schema, backups, CAs, DNS providers).

use std::io::Write;

use chrono::{DateTime, Utc};

pub mod admin;
pub mod certs;
pub mod monitoring;
pub mod servers;
pub mod tasks;
pub mod users;

/// A type's table view: its list columns and one row's cells.
pub trait TableView {
    /// Column headers.
    const HEADERS: &'static [&'static str];
    /// The cells of one row, in header order.
    fn cells(&self) -> Vec<String>;
}

/// A type's detail view: the `key  value` lines of `show`.
pub trait FieldsView {
    /// The lines, in order.
    fn fields(&self) -> Vec<(&'static str, String)>;
}

/// The table of some rows.
pub fn table<T: TableView>(rows: &[T]) -> Table {
    let mut t = Table::new(T::HEADERS);
    for r in rows {
        t.row(r.cells());
    }
    t
}

/// Prints rows: their JSON view with `--json`, else their table and a row count.
pub fn list<T: TableView + serde::Serialize>(json: bool, rows: &[T]) {
    if json {
        print_json(rows);
    } else {
        table(rows).print();
    }
}

/// Prints one value: its JSON view with `--json`, else its detail lines.
pub fn show<T: FieldsView + serde::Serialize + ?Sized>(json: bool, v: &T) {
    if json {
        print_json(v);
    } else {
        print_fields(&v.fields());
    }
}

/// Pretty JSON of a value, as `--json` prints it.
pub fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(v)
}

/// Renders `key: value` lines (keys padded to the widest).
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let w = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in fields {
        out.push_str(&format!("{k:<w$}  {v}\n"));
    }
    out
}

/// A text table with a header row; columns are sized to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}  "));
                }
            }
            s.trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }

    /// The table and its row count line, as [`Table::print`] writes them.
    pub fn render_counted(&self) -> String {
        format!(
            "{}({} row{})\n",
            self.render(),
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" }
        )
    }

    /// Prints the table and a row count to stdout.
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(self.render_counted().as_bytes());
    }
}

/// Prints a value as pretty JSON.
pub fn print_json<T: serde::Serialize + ?Sized>(v: &T) {
    match json_text(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// Prints `key: value` lines.
pub fn print_fields(fields: &[(&str, String)]) {
    print!("{}", render_fields(fields));
}

/// A timestamp as `YYYY-MM-DD HH:MM`, or `-`.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// An optional text, or `-`.
pub fn opt(v: &Option<String>) -> String {
    v.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

/// Days until a time, as `42d` / `expired 3d ago`.
pub fn countdown(t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "-".into(),
        Some(t) => {
            let d = (t - Utc::now()).num_days();
            if t <= Utc::now() {
                format!("expired {}d ago", -d)
            } else {
                format!("{d}d")
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixed values for the views' tests.
    use chrono::{DateTime, TimeZone, Utc};

    /// 2026-01-02 03:04:05 UTC.
    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_columns_to_the_widest_cell_and_counts_rows() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "a".into()]);
        t.row(vec!["200".into(), "bb".into()]);
        assert_eq!(t.render_counted(), "ID   NAME\n1    a\n200  bb\n(2 rows)\n");
        assert_eq!(Table::new(&["X"]).render_counted(), "X\n(0 rows)\n");
    }

    #[test]
    fn fields_are_aligned_and_missing_values_are_dashes() {
        assert_eq!(
            render_fields(&[("id", "1".into()), ("status", opt(&None))]),
            "id      1\nstatus  -\n"
        );
        assert_eq!(when(Some(testing::t0())), "2026-01-02 03:04");
        assert_eq!(when(None), "-");
        assert_eq!(countdown(None), "-");
    }
}
