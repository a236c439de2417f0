//! Colours: `themes/<name>.toml` embedded in the binary, patched by `<config>/themes/<name>.toml`.
//! A bad file is reported and the built-in colours are used. `NO_COLOR` drops every colour and
//! keeps only bold / reverse / dim, so the console stays readable on any terminal.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};

/// The embedded themes: (name, TOML text).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

/// The colours of one theme, by role.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Palette {
    /// Normal text.
    pub fg: String,
    /// Background ("reset" = the terminal's).
    pub bg: String,
    /// Titles, keys in hints, the active tab.
    pub accent: String,
    /// Secondary text: hints, timestamps, borders.
    pub muted: String,
    /// The selected row's text.
    pub selected_fg: String,
    /// The selected row's background.
    pub selected_bg: String,
    /// Healthy values (issued, ok, active, completed).
    pub ok: String,
    /// Attention (expiring, warning, pending).
    pub warn: String,
    /// Failures (expired, error, failed).
    pub error: String,
    /// Running work and information.
    pub info: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    colors: PatchPalette,
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchPalette {
    fg: Option<String>,
    bg: Option<String>,
    accent: Option<String>,
    muted: Option<String>,
    selected_fg: Option<String>,
    selected_bg: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    error: Option<String>,
    info: Option<String>,
}

/// A tone of a value, coloured by the theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// Plain.
    #[default]
    Normal,
    /// Good.
    Ok,
    /// Attention.
    Warn,
    /// Failure.
    Error,
    /// In progress / information.
    Info,
    /// Secondary.
    Muted,
}

/// Resolved styles.
#[derive(Debug, Clone)]
pub struct Theme {
    /// The theme name.
    pub name: String,
    colors: Option<Resolved>,
}

#[derive(Debug, Clone, Copy)]
struct Resolved {
    fg: Color,
    bg: Color,
    accent: Color,
    muted: Color,
    selected_fg: Color,
    selected_bg: Color,
    ok: Color,
    warn: Color,
    error: Color,
    info: Color,
}

fn color(role: &str, s: &str) -> Result<Color, String> {
    s.parse::<Color>()
        .map_err(|_| format!("{role} = '{s}' is not a colour (a name such as 'red', 'reset', or '#rrggbb')"))
}

fn apply(base: &mut Palette, p: PatchPalette) {
    let fields: [(&mut String, Option<String>); 10] = [
        (&mut base.fg, p.fg),
        (&mut base.bg, p.bg),
        (&mut base.accent, p.accent),
        (&mut base.muted, p.muted),
        (&mut base.selected_fg, p.selected_fg),
        (&mut base.selected_bg, p.selected_bg),
        (&mut base.ok, p.ok),
        (&mut base.warn, p.warn),
        (&mut base.error, p.error),
        (&mut base.info, p.info),
    ];
    for (slot, v) in fields {
        if let Some(v) = v {
            *slot = v;
        }
    }
}

fn resolve(p: &Palette) -> Result<Resolved, String> {
    Ok(Resolved {
        fg: color("fg", &p.fg)?,
        bg: color("bg", &p.bg)?,
        accent: color("accent", &p.accent)?,
        muted: color("muted", &p.muted)?,
        selected_fg: color("selected_fg", &p.selected_fg)?,
        selected_bg: color("selected_bg", &p.selected_bg)?,
        ok: color("ok", &p.ok)?,
        warn: color("warn", &p.warn)?,
        error: color("error", &p.error)?,
        info: color("info", &p.info)?,
    })
}

/// Parses a complete theme file (every role given) into a palette.
pub fn parse_full(text: &str) -> Result<Palette, String> {
    let f: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let p = f.colors;
    let need = |name: &str, v: Option<String>| v.ok_or_else(|| format!("colors.{name} is missing"));
    let palette = Palette {
        fg: need("fg", p.fg)?,
        bg: need("bg", p.bg)?,
        accent: need("accent", p.accent)?,
        muted: need("muted", p.muted)?,
        selected_fg: need("selected_fg", p.selected_fg)?,
        selected_bg: need("selected_bg", p.selected_bg)?,
        ok: need("ok", p.ok)?,
        warn: need("warn", p.warn)?,
        error: need("error", p.error)?,
        info: need("info", p.info)?,
    };
    resolve(&palette)?;
    Ok(palette)
}

impl Theme {
    /// The theme `name` (embedded, patched by the user's file), or plain when `no_color`.
    pub fn load(name: &str, config_dir: Option<&Path>, no_color: bool) -> (Theme, Vec<String>) {
        let mut warnings = Vec::new();
        let default = parse_full(EMBEDDED[0].1).expect("the embedded default theme is valid");
        let user_path = config_dir.map(|d| d.join("themes").join(format!("{name}.toml")));
        let user_exists = user_path.as_ref().is_some_and(|p| p.exists());
        let mut palette = match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => parse_full(text).unwrap_or_else(|e| {
                warnings.push(format!("theme '{name}': {e}; using the default theme"));
                default.clone()
            }),
            None => {
                if !user_exists {
                    warnings.push(format!("no theme named '{name}'; using the default theme"));
                }
                default.clone()
            }
        };
        if let (Some(path), true) = (user_path, user_exists) {
            let patched = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| toml::from_str::<ThemeFile>(&t).map_err(|e| e.to_string()))
                .and_then(|f| {
                    let mut p = palette.clone();
                    apply(&mut p, f.colors);
                    resolve(&p).map(|_| p)
                });
            match patched {
                Ok(p) => palette = p,
                Err(e) => warnings.push(format!(
                    "theme file {}: {e}; using the built-in colours",
                    path.display()
                )),
            }
        }
        let colors = if no_color {
            None
        } else {
            Some(resolve(&palette).unwrap_or_else(|_| resolve(&default).expect("default theme resolves")))
        };
        (
            Theme {
                name: name.to_string(),
                colors,
            },
            warnings,
        )
    }

    /// A theme without colours (`NO_COLOR`), also used by tests.
    pub fn plain() -> Theme {
        Theme {
            name: "plain".into(),
            colors: None,
        }
    }

    /// Normal text on the background.
    pub fn base(&self) -> Style {
        match self.colors {
            Some(c) => Style::default().fg(c.fg).bg(c.bg),
            None => Style::default(),
        }
    }

    /// Titles and keys.
    pub fn accent(&self) -> Style {
        match self.colors {
            Some(c) => Style::default().fg(c.accent).add_modifier(Modifier::BOLD),
            None => Style::default().add_modifier(Modifier::BOLD),
        }
    }

    /// Secondary text and borders.
    pub fn muted(&self) -> Style {
        match self.colors {
            Some(c) => Style::default().fg(c.muted),
            None => Style::default().add_modifier(Modifier::DIM),
        }
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        match self.colors {
            Some(c) => Style::default()
                .fg(c.selected_fg)
                .bg(c.selected_bg)
                .add_modifier(Modifier::BOLD),
            None => Style::default().add_modifier(Modifier::REVERSED),
        }
    }

    /// Table headers.
    pub fn header(&self) -> Style {
        self.accent().add_modifier(Modifier::UNDERLINED)
    }

    /// A value's tone.
    pub fn tone(&self, t: Tone) -> Style {
        let Some(c) = self.colors else {
            return match t {
                Tone::Error => Style::default().add_modifier(Modifier::BOLD),
                Tone::Muted => Style::default().add_modifier(Modifier::DIM),
                _ => Style::default(),
            };
        };
        match t {
            Tone::Normal => Style::default().fg(c.fg),
            Tone::Ok => Style::default().fg(c.ok),
            Tone::Warn => Style::default().fg(c.warn),
            Tone::Error => Style::default().fg(c.error).add_modifier(Modifier::BOLD),
            Tone::Info => Style::default().fg(c.info),
            Tone::Muted => Style::default().fg(c.muted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_themes_parse() {
        for (name, text) in EMBEDDED {
            parse_full(text).unwrap_or_else(|e| panic!("theme {name}: {e}"));
            let (_, w) = Theme::load(name, None, false);
            assert!(w.is_empty(), "{w:?}");
        }
    }

    #[test]
    fn a_bad_user_theme_is_reported_and_the_preset_stays() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/light.toml"),
            "[colors]\nfg = \"not-a-colour\"\n",
        )
        .unwrap();
        let (t, w) = Theme::load("light", Some(dir.path()), false);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("not-a-colour"), "{w:?}");
        assert!(t.base().fg.is_some());
    }

    #[test]
    fn no_color_drops_every_colour() {
        let (t, _) = Theme::load("default", None, true);
        for s in [t.base(), t.accent(), t.selected(), t.tone(Tone::Error)] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
    }
}
