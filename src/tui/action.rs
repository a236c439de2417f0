//! The console's actions: what a key does, named in `keymaps/*.toml`, described in the catalog
//! (`action.<name>`), flagged when they change data (hidden by `--read-only`) or are dangerous
//! (they ask to confirm).

macro_rules! actions {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// An action a key can trigger.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in help order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name used in keymap files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The action of a keymap name.
            pub fn from_name(s: &str) -> Option<Action> {
                match s {
                    $($name => Some(Action::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    Quit = "quit",
    Help = "help",
    Back = "back",
    Up = "up",
    Down = "down",
    PageUp = "page_up",
    PageDown = "page_down",
    Top = "top",
    Bottom = "bottom",
    Open = "open",
    Command = "command",
    Filter = "filter",
    Refresh = "refresh",
    Sort = "sort",
    NextTab = "next_tab",
    PrevTab = "prev_tab",
    Dashboard = "dashboard",
    Create = "create",
    Edit = "edit",
    Delete = "delete",
    Toggle = "toggle",
    RunNow = "run_now",
    Retry = "retry",
    CancelTask = "cancel_task",
    Resolve = "resolve",
    ShowPem = "show_pem",
    Check = "check",
    TrustHostKey = "trust_hostkey",
    Deploy = "deploy",
    ImportSsh = "import_ssh",
    ImportSite = "import_site",
    BindSite = "bind_site",
    RequestCert = "request_cert",
    Renew = "renew",
    Revoke = "revoke",
    Acknowledge = "acknowledge",
    TestChannel = "test_channel",
    Logout = "logout",
    Submit = "submit",
    NextField = "next_field",
    PrevField = "prev_field",
    Confirm = "confirm",
}

impl Action {
    /// The catalog key of the action's description.
    pub fn desc_key(self) -> String {
        format!("action.{}", self.name())
    }

    /// Whether the action changes data (hidden in read-only mode).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Edit
                | Action::Delete
                | Action::Toggle
                | Action::RunNow
                | Action::Retry
                | Action::CancelTask
                | Action::Resolve
                | Action::Check
                | Action::TrustHostKey
                | Action::Deploy
                | Action::ImportSsh
                | Action::ImportSite
                | Action::BindSite
                | Action::RequestCert
                | Action::Renew
                | Action::Revoke
                | Action::Acknowledge
                | Action::TestChannel
        )
    }

    /// Actions that work in text fields (forms, login, command and filter lines): the rest of
    /// the keys type text there.
    pub fn works_in_text(self) -> bool {
        matches!(
            self,
            Action::Back | Action::Submit | Action::NextField | Action::PrevField | Action::Up | Action::Down
        )
    }
}

/// Why an action on a row asks to confirm: one flag for every dangerous action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Danger {
    /// Safe: runs at once.
    Safe,
    /// Dangerous: asks first.
    Dangerous,
}
