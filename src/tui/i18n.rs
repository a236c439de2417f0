//! The console's message catalog: every user-facing string comes from here, in English and
//! Simplified Chinese. Catalogs are TOML tables embedded in the binary (`assets/i18n/`); nested
//! tables flatten to dotted keys (`[action] quit = "…"` is `action.quit`).

use std::collections::HashMap;

const EN: &str = include_str!("../../assets/i18n/en.toml");
const ZH_CN: &str = include_str!("../../assets/i18n/zh-CN.toml");

/// A console language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// Parses `en`, `zh-CN` (also `zh`, `zh_CN.UTF-8`, as in `LANG`).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::ZhCn)
        } else if s.starts_with("en") || s == "c" || s.starts_with("c.") || s == "posix" {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The code stored in the `language` user setting.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language of the environment (`LC_ALL`, `LC_MESSAGES`, `LANG`), English by default.
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .and_then(|v| Lang::parse(&v))
            .unwrap_or(Lang::En)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => EN,
            Lang::ZhCn => ZH_CN,
        }
    }
}

/// The messages of one language, with English as the fallback.
#[derive(Debug, Clone)]
pub struct Catalog {
    lang: Lang,
    messages: HashMap<String, String>,
    english: HashMap<String, String>,
}

/// Flattens a TOML catalog into dotted keys.
pub fn parse(text: &str) -> Result<HashMap<String, String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = HashMap::new();
    flatten("", &table, &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, t: &toml::Table, out: &mut HashMap<String, String>) -> Result<(), String> {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(inner) => flatten(&key, inner, out)?,
            _ => return Err(format!("{key}: a message must be a string")),
        }
    }
    Ok(())
}

impl Catalog {
    /// The embedded catalog of `lang`.
    pub fn load(lang: Lang) -> Catalog {
        let english = parse(EN).unwrap_or_default();
        let messages = if lang == Lang::En {
            english.clone()
        } else {
            parse(lang.source()).unwrap_or_default()
        };
        Catalog {
            lang,
            messages,
            english,
        }
    }

    /// The language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The message for `key`; English when this language lacks it; the key itself when unknown.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages
            .get(key)
            .or_else(|| self.english.get(key))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// Whether the catalog knows `key`.
    pub fn has(&self, key: &str) -> bool {
        self.messages.contains_key(key)
    }

    /// The message for `key` with `{name}` placeholders replaced.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.get(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// All keys of the English catalog (the reference).
    pub fn english_keys() -> Vec<String> {
        let mut k: Vec<String> = parse(EN).unwrap_or_default().into_keys().collect();
        k.sort();
        k
    }

    /// All keys of `lang`'s catalog.
    pub fn keys_of(lang: Lang) -> Result<Vec<String>, String> {
        let mut k: Vec<String> = parse(lang.source())?.into_keys().collect();
        k.sort();
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::action::Action;
    use crate::tui::resources::{Kind, Order};

    #[test]
    fn both_catalogs_have_the_same_keys_and_placeholders() {
        let en = parse(EN).unwrap();
        let zh = parse(ZH_CN).unwrap();
        let mut missing: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        let mut extra: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        missing.sort();
        extra.sort();
        assert!(missing.is_empty(), "zh-CN lacks {missing:?}");
        assert!(extra.is_empty(), "zh-CN has keys English lacks: {extra:?}");
        let holes = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                .collect();
            v.sort();
            v
        };
        for (k, v) in &en {
            assert_eq!(holes(v), holes(&zh[k]), "placeholders of {k} differ");
        }
    }

    /// Every key the code asks for, literally or by rule, exists in the English catalog (and so,
    /// by the test above, in Chinese).
    #[test]
    fn every_key_the_console_uses_exists() {
        let en = parse(EN).unwrap();
        let mut wanted: Vec<String> = Vec::new();
        for a in Action::ALL {
            wanted.push(a.desc_key());
            wanted.push(format!("hint.{}", a.name()));
        }
        for k in Kind::ALL {
            wanted.push(k.title_key().to_string());
            wanted.extend(k.columns().iter().map(|c| format!("col.{}", c.key)));
            if let Some(f) = k.resource().create_form(None) {
                wanted.push(f.title.to_string());
                wanted.extend(f.fields.iter().map(|x| x.label.clone()));
            }
            if let Some(f) = k.resource().create_form(Some(1)) {
                wanted.push(f.title.to_string());
                wanted.extend(f.fields.iter().map(|x| x.label.clone()));
            }
        }
        wanted.extend([Order::Newest.key(), Order::Expiry.key()].map(String::from));
        // Literal keys in the console's sources: "prefix.name" strings of the catalog's tables.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui");
        let prefixes: std::collections::BTreeSet<&str> = en.keys().filter_map(|k| k.split('.').next()).collect();
        let mut files = vec![];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for lit in text.split('"').skip(1).step_by(2) {
                if let Some((p, rest)) = lit.split_once('.') {
                    let ident = !rest.is_empty()
                        && rest
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if prefixes.contains(p) && ident {
                        wanted.push(lit.to_string());
                    }
                }
            }
            // Detail labels: field("name", …) is field.name; detail table columns are col.*.
            if f.parent().is_some_and(|d| d.ends_with("resources")) {
                for part in text.split("field(\"").skip(1) {
                    if let Some((name, _)) = part.split_once('"') {
                        wanted.push(format!("field.{name}"));
                    }
                }
                for part in text.split("vec![\"").skip(1) {
                    if let Some((list, _)) = part.split_once(']') {
                        for c in list.split(',') {
                            let c = c.trim().trim_matches('"');
                            if !c.is_empty() {
                                wanted.push(format!("col.{c}"));
                            }
                        }
                    }
                }
            }
        }
        // Literals that look like keys but are data (audit actions of other layers, JSON paths).
        let not_keys = ["config.", "server.create"];
        let mut missing: Vec<_> = wanted
            .into_iter()
            .filter(|k| !en.contains_key(k) && !not_keys.iter().any(|n| k.starts_with(n)))
            .collect();
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "keys missing from assets/i18n/en.toml: {missing:?}");
    }
}
