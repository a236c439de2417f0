//! The task queue on `tasks` (V8 columns): enqueue, atomic claim with a lease, fenced progress /
//! log / completion writes, lease renewal, expiry reaping, cancel and retry.
//!
//! A claim bumps `lease_generation`; every later write of the worker names the task, its
//! `locked_by` and that generation, and changes nothing once another claim, a reap or a cancel
//! took the task away (the write reports `false`: the worker has lost the task and must stop).
//! `task_target_locks` (primary key target_type + target_id) keeps two tasks off one target at
//! once, across processes.
//!
//! - `enqueue`: new tasks, guarded enqueue and retry;
//! - `claim`: atomic claims with a lease;
//! - `lease`: the lease holder's fenced writes and lease reaping;
//! - `control`: cancel, retry, queue state and counts.

mod claim;
mod control;
mod enqueue;
mod lease;

pub use claim::{claim, claim_batch, claim_task, Claimed, Lease};
pub use control::{cancel, queue_state, retry, stats, target_holder, QueueState, QueueStats, TargetHolder};
pub use enqueue::{
    auto_deployments, enqueue, enqueue_guarded, retry_guarded, Enqueued, Guard, GuardScope, NewTask, OpenTask, Retried,
};
pub use lease::{
    append_log, finish, holds, reap_expired, release, renew_lease, set_progress, system_log, Outcome, Reaped,
};
