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
