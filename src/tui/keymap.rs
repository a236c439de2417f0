//! Key bindings: `keymaps/<name>.toml` embedded in the binary, patched by a file of the same name
//! in the config dir (`<config>/keymaps/<name>.toml`). A bad file is reported and the embedded
//! defaults are used.

use std::collections::BTreeMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// The embedded keymaps: (name, TOML text).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

/// One key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl / Alt (Shift is part of the character or of `BackTab`).
    pub mods: KeyModifiers,
}

impl Key {
    /// The key of a terminal event, normalised (shift dropped from characters).
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
            KeyCode::BackTab => {
                mods = KeyModifiers::NONE;
                KeyCode::BackTab
            }
            c => c,
        };
        Key { code, mods }
    }

    /// Parses `q`, `ctrl-c`, `alt-x`, `enter`, `esc`, `tab`, `shift-tab`, `up`, `pgdn`, `f1`, `space`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                })
            }
            other => return Err(format!("unknown key '{other}' in '{s}'")),
        };
        Ok(Key { code, mods })
    }

    /// Whether the key types a character into a text field.
    pub fn is_text(&self) -> bool {
        matches!(self.code, KeyCode::Char(_)) && !self.mods.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }

    /// How help shows the key.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("alt-");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("space"),
            KeyCode::Char(c) => s.push(c),
            KeyCode::Enter => s.push_str("enter"),
            KeyCode::Esc => s.push_str("esc"),
            KeyCode::Tab => s.push_str("tab"),
            KeyCode::BackTab => s.push_str("shift-tab"),
            KeyCode::Up => s.push('↑'),
            KeyCode::Down => s.push('↓'),
            KeyCode::Left => s.push('←'),
            KeyCode::Right => s.push('→'),
            KeyCode::PageUp => s.push_str("pgup"),
            KeyCode::PageDown => s.push_str("pgdn"),
            KeyCode::Home => s.push_str("home"),
            KeyCode::End => s.push_str("end"),
            KeyCode::F(n) => s.push_str(&format!("f{n}")),
            _ => s.push('?'),
        }
        s
    }
}

/// A keymap: the keys of every action.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// The name.
    pub name: String,
    bindings: BTreeMap<Action, Vec<Key>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

/// Parses a keymap file into per-action bindings.
pub fn parse(text: &str) -> Result<BTreeMap<Action, Vec<Key>>, String> {
    let f: KeymapFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (name, keys) in f.keys {
        let action = Action::from_name(&name).ok_or_else(|| format!("unknown action '{name}'"))?;
        let keys = keys.iter().map(|k| Key::parse(k)).collect::<Result<Vec<_>, _>>()?;
        out.insert(action, keys);
    }
    Ok(out)
}

impl Keymap {
    /// The embedded keymap `name` patched by `<config_dir>/keymaps/<name>.toml`; with the list of
    /// problems met (unknown name, unreadable or invalid file), each already explained.
    pub fn load(name: &str, config_dir: Option<&Path>) -> (Keymap, Vec<String>) {
        let mut warnings = Vec::new();
        let default = parse(EMBEDDED[0].1).unwrap_or_default();
        let user_path = config_dir.map(|d| d.join("keymaps").join(format!("{name}.toml")));
        let user_exists = user_path.as_ref().is_some_and(|p| p.exists());
        let mut bindings = match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => match parse(text) {
                Ok(b) => b,
                Err(e) => {
                    warnings.push(format!("keymap '{name}': {e}; using the default keymap"));
                    default.clone()
                }
            },
            None => {
                if !user_exists {
                    warnings.push(format!("no keymap named '{name}'; using the default keymap"));
                }
                default.clone()
            }
        };
        // Actions a preset leaves out keep their default keys.
        for (a, keys) in &default {
            bindings.entry(*a).or_insert_with(|| keys.clone());
        }
        if let (Some(path), true) = (user_path, user_exists) {
            match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| parse(&t))
            {
                Ok(patch) => bindings.extend(patch),
                Err(e) => warnings.push(format!(
                    "keymap file {}: {e}; using the built-in keymap",
                    path.display()
                )),
            }
        }
        (
            Keymap {
                name: name.to_string(),
                bindings,
            },
            warnings,
        )
    }

    /// The actions bound to a key, in keymap order.
    pub fn actions_for(&self, key: &Key) -> Vec<Action> {
        self.bindings
            .iter()
            .filter(|(_, keys)| keys.contains(key))
            .map(|(a, _)| *a)
            .collect()
    }

    /// The keys of an action.
    pub fn keys_of(&self, a: Action) -> &[Key] {
        self.bindings.get(&a).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first key of an action, for hints ("" when unbound).
    pub fn hint(&self, a: Action) -> String {
        self.keys_of(a).first().map(Key::label).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_keymaps_parse_and_bind_every_action() {
        for (name, text) in EMBEDDED {
            let b = parse(text).unwrap_or_else(|e| panic!("keymap {name}: {e}"));
            let (km, warnings) = Keymap::load(name, None);
            assert!(warnings.is_empty(), "{warnings:?}");
            for a in Action::ALL {
                assert!(!km.keys_of(*a).is_empty(), "keymap {name} leaves {} unbound", a.name());
            }
            assert!(!b.is_empty());
        }
    }

    #[test]
    fn a_bad_user_file_is_reported_and_defaults_stay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[keys]\nquit = [\"ctrl-nonsense\"]\n",
        )
        .unwrap();
        let (km, warnings) = Keymap::load("default", Some(dir.path()));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("nonsense"), "{warnings:?}");
        assert!(!km.keys_of(Action::Quit).is_empty());
    }

    #[test]
    fn a_user_file_patches_one_action() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(dir.path().join("keymaps/default.toml"), "[keys]\nquit = [\"ctrl-q\"]\n").unwrap();
        let (km, warnings) = Keymap::load("default", Some(dir.path()));
        assert!(warnings.is_empty());
        assert_eq!(km.keys_of(Action::Quit), &[Key::parse("ctrl-q").unwrap()]);
        assert!(!km.keys_of(Action::Help).is_empty());
    }
}
