//! Tasks: enqueueing with validation and ownership, the visible list, logs, cancel and retry
//! ([`enqueue`]); the execution side the scheduler drives — claim, run a [`TaskRunner`] under a
//! renewed, fenced lease, and record the outcome with retries for transient failures only
//! ([`execute`]); and scheduler health ([`health`]).
//!
//! The runner contract lives in [`super::runner`] and the registry of runners in
//! [`super::runners`]; both are re-exported here, so faces keep one path for everything about
//! tasks. Modules inside `service` import the parts directly (never this façade), which keeps
//! the runners and the registry free of import loops.

pub mod enqueue;
pub mod execute;
pub mod health;

pub use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner, TaskScope};
pub use super::runners::Runners;
pub use enqueue::{TaskDetail, TaskInput};
pub use execute::{step, ExecSettings, RunReport, WaitStep};
pub use health::{Health, HealthLevel, DUE_LAG_SECS, HEARTBEAT_STALE_SECS};
