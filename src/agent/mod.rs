//! The pull agent (`certdeck agent enroll` / `certdeck agent run`): runs on a web server whose
//! entry has auth type `token`, with no database and no master key — only the server's token —
//! and manages that server's certificates through the HTTP API: it reports the host's facts and
//! its web server's sites, installs the deployments assigned to it with the same transaction
//! as an SSH deploy (local files instead of SFTP), and places http-01 challenge files.
//!
//! A face: it speaks to [`crate::api`] over HTTP with the wire types of
//! [`crate::domain::agent_wire`], and uses [`crate::engine`] locally; it never touches the
//! service or the store.

pub mod client;
pub mod config;
pub mod run;
