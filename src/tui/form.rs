//! Forms: text fields (tui-input), masked secrets, numbers and enum pickers, with the error of
//! each field shown under it. What a form creates or changes is decided by the service layer;
//! the form only collects strings and shows the service's validation errors on their field.

use tui_input::{Input, InputRequest};

use super::model::{Kind, Link};

/// The names of a domain enum's values, for a picker.
pub fn names<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

/// The values of a yes/no picker.
pub const YES_NO: &[&str] = &["yes", "no"];

/// A yes/no picker's value.
pub fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

/// How a field is edited.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// Free text.
    Text,
    /// Text shown as `•`.
    Secret,
    /// A whole number.
    Number,
    /// One of fixed values, cycled with left/right or space.
    Picker(Vec<String>),
}

/// One field of a form (`Debug` hides what a secret field holds).
#[derive(Clone)]
pub struct Field {
    /// The name the service layer reports errors under (`hostname`, `port`…).
    pub name: &'static str,
    /// Catalog key of the label (`field.<name>`).
    pub label: String,
    /// How it is edited.
    pub kind: FieldKind,
    /// The text.
    pub input: Input,
    /// The picked value's index (pickers).
    pub choice: usize,
    /// The service's error about this field.
    pub error: Option<String>,
    /// Must not be empty.
    pub required: bool,
    /// Read-only (shown for context, e.g. the key of a setting).
    pub locked: bool,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = match self.kind {
            FieldKind::Secret => "<redacted>".to_string(),
            _ => self.value(),
        };
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("value", &value)
            .field("error", &self.error)
            .finish()
    }
}

impl Field {
    /// A text field.
    pub fn text(name: &'static str, value: &str) -> Field {
        Field {
            name,
            label: format!("field.{name}"),
            kind: FieldKind::Text,
            input: Input::new(value.to_string()),
            choice: 0,
            error: None,
            required: false,
            locked: false,
        }
    }

    /// A masked field.
    pub fn secret(name: &'static str) -> Field {
        Field {
            kind: FieldKind::Secret,
            ..Field::text(name, "")
        }
    }

    /// A number field.
    pub fn number(name: &'static str, value: &str) -> Field {
        Field {
            kind: FieldKind::Number,
            ..Field::text(name, value)
        }
    }

    /// A picker over `options`, starting at `current` (or the first).
    pub fn picker(name: &'static str, options: &[&str], current: &str) -> Field {
        let opts: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        let choice = opts.iter().position(|o| o == current).unwrap_or(0);
        Field {
            kind: FieldKind::Picker(opts),
            choice,
            ..Field::text(name, "")
        }
    }

    /// Marks the field required.
    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }

    /// Marks the field read-only.
    pub fn locked(mut self) -> Field {
        self.locked = true;
        self
    }

    /// The value as the service will get it.
    pub fn value(&self) -> String {
        match &self.kind {
            FieldKind::Picker(opts) => opts.get(self.choice).cloned().unwrap_or_default(),
            _ => self.input.value().to_string(),
        }
    }

    /// What the field shows (secrets masked).
    pub fn display(&self) -> String {
        match &self.kind {
            FieldKind::Secret => "•".repeat(self.input.value().chars().count()),
            FieldKind::Picker(opts) => format!("◂ {} ▸", opts.get(self.choice).map(String::as_str).unwrap_or("")),
            _ => self.input.value().to_string(),
        }
    }

    /// Cycles a picker by `delta`.
    pub fn cycle(&mut self, delta: i64) {
        if let FieldKind::Picker(opts) = &self.kind {
            if !opts.is_empty() {
                let n = opts.len() as i64;
                self.choice = ((self.choice as i64 + delta).rem_euclid(n)) as usize;
                self.error = None;
            }
        }
    }

    /// Applies a text edit; numbers accept digits and a leading minus only.
    pub fn edit(&mut self, req: InputRequest) {
        if self.locked || matches!(self.kind, FieldKind::Picker(_)) {
            return;
        }
        if let (FieldKind::Number, InputRequest::InsertChar(c)) = (&self.kind, &req) {
            if !(c.is_ascii_digit() || (*c == '-' && self.input.cursor() == 0)) {
                return;
            }
        }
        if self.input.handle(req).is_some_and(|r| r.value) {
            self.error = None;
        }
    }
}

/// What a submitted form does, besides the resource it belongs to (the target row travels with
/// it).
#[derive(Debug, Clone, PartialEq)]
pub enum FormOp {
    /// A new row of the pane.
    Create,
    /// A row requested from elsewhere rather than created here (a certificate from an ACME CA).
    Request,
    /// Edit the row with this id.
    Edit(i64),
    /// A row linked to the open detail's row (this id): a deployment, a binding, a member.
    Add(i64),
    /// Act on a linked row of the open detail (bind a certificate to a discovered site).
    OnLink(Link, i64),
}

/// Which resource's form, and what it does: the resource's module turns it into a service call.
#[derive(Debug, Clone, PartialEq)]
pub struct FormKind {
    /// The resource that submits it.
    pub kind: Kind,
    /// What it does.
    pub op: FormOp,
}

/// An open form.
#[derive(Debug, Clone)]
pub struct Form {
    /// What it does.
    pub kind: FormKind,
    /// Catalog key of the title.
    pub title: &'static str,
    /// Its fields.
    pub fields: Vec<Field>,
    /// The focused field.
    pub focus: usize,
    /// The submit in flight (its request id).
    pub pending: Option<u64>,
    /// An error not about one field.
    pub error: Option<String>,
}

impl Form {
    /// A form of `kind` doing `op`, titled by the catalog key `title`, with its fields; focus on
    /// the first editable one.
    pub fn new(kind: Kind, op: FormOp, title: &'static str, fields: Vec<Field>) -> Form {
        let focus = fields.iter().position(|f| !f.locked).unwrap_or(0);
        Form {
            kind: FormKind { kind, op },
            title,
            fields,
            focus,
            pending: None,
            error: None,
        }
    }

    /// Moves the focus by `delta`, skipping locked fields, wrapping around.
    pub fn move_focus(&mut self, delta: i64) {
        let n = self.fields.len() as i64;
        if n == 0 {
            return;
        }
        let mut f = self.focus as i64;
        for _ in 0..n {
            f = (f + delta).rem_euclid(n);
            if !self.fields[f as usize].locked {
                break;
            }
        }
        self.focus = f as usize;
    }

    /// The focused field.
    pub fn focused(&mut self) -> Option<&mut Field> {
        self.fields.get_mut(self.focus)
    }

    /// The values by field name.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        self.fields.iter().map(|f| (f.name, f.value())).collect()
    }

    /// Marks empty required fields; true when the form may be submitted.
    pub fn check_required(&mut self, msg: &str) -> bool {
        let mut ok = true;
        for f in &mut self.fields {
            if f.required && f.value().trim().is_empty() {
                f.error = Some(msg.to_string());
                ok = false;
            }
        }
        if !ok {
            if let Some(i) = self.fields.iter().position(|f| f.error.is_some()) {
                self.focus = i;
            }
        }
        ok
    }

    /// Puts the service's error on its field (by name), or on the form when no field matches.
    pub fn set_error(&mut self, field: Option<&str>, reason: String) {
        match field.and_then(|name| {
            self.fields
                .iter()
                .position(|f| f.name == name || name.starts_with(&format!("{}.", f.name)))
        }) {
            Some(i) => {
                self.fields[i].error = Some(reason);
                self.focus = i;
            }
            None => self.error = Some(reason),
        }
    }
}
