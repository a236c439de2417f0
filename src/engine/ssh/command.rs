//! The output of a remote command (bounded, the tail of each stream kept) and shell quoting.

/// Bytes a remote command may print (stdout and stderr together) before certdeck stops reading,
/// closes its channel and fails with [`SshError::Limit`]: a command that prints forever (or a
/// hostile server) cannot fill the scheduler's memory nor hold a worker until the timeout.
pub const COMMAND_OUTPUT_MAX: u64 = 4 * 1024 * 1024;

/// Entries a directory listing may hold before certdeck stops reading it and fails with
/// [`SshError::Limit`]: a directory of millions of names (or a server that never sends the end
/// of a listing) cannot fill the scheduler's memory.
pub const DIR_ENTRIES_MAX: usize = 10_000;
/// Bytes kept of each output stream: its tail, which is what error messages show
/// ([`CommandOutput::truncated`] says when the head was dropped).
pub const COMMAND_OUTPUT_KEEP: usize = 64 * 1024;

/// Output of a remote command.
#[derive(Debug, Clone, Default)]
pub struct CommandOutput {
    /// Exit status (-1 when the command ended without one, e.g. by a signal).
    pub code: i64,
    /// Standard output (its last [`COMMAND_OUTPUT_KEEP`] bytes).
    pub stdout: String,
    /// Standard error (its last [`COMMAND_OUTPUT_KEEP`] bytes).
    pub stderr: String,
    /// Whether the head of stdout or stderr was dropped to keep [`COMMAND_OUTPUT_KEEP`] bytes.
    pub truncated: bool,
}

/// The tail of one output stream: at most [`COMMAND_OUTPUT_KEEP`] bytes are kept.
#[derive(Default)]
pub(crate) struct Tail {
    pub(crate) buf: std::collections::VecDeque<u8>,
    pub(crate) dropped: bool,
}

impl Tail {
    pub(crate) fn push(&mut self, data: &[u8]) {
        let data = if data.len() > COMMAND_OUTPUT_KEEP {
            self.dropped = true;
            self.buf.clear();
            &data[data.len() - COMMAND_OUTPUT_KEEP..]
        } else {
            data
        };
        let over = (self.buf.len() + data.len()).saturating_sub(COMMAND_OUTPUT_KEEP);
        if over > 0 {
            self.dropped = true;
            self.buf.drain(..over);
        }
        self.buf.extend(data);
    }

    pub(crate) fn text(self) -> String {
        let (buf, dropped) = (Vec::from(self.buf), self.dropped);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if dropped {
            // A multi-byte character cut at the start shows as U+FFFD: drop it.
            format!("…{}", text.trim_start_matches('\u{FFFD}'))
        } else {
            text
        }
    }
}

impl CommandOutput {
    /// Last lines of stderr (or stdout), at most `max` characters, for error messages.
    pub fn excerpt(&self, max: usize) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let t = text.trim();
        if t.chars().count() <= max {
            return t.replace('\n', " | ");
        }
        let skip = t.chars().count() - max;
        format!("…{}", t.chars().skip(skip).collect::<String>().replace('\n', " | "))
    }
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@%+,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}
