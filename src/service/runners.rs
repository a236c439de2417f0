//! The registry of task runners: which [`TaskRunner`] runs each task type in this build.
//! This is the one file that names every runner; runners themselves import only the contract
//! ([`super::runner`]), so the two never form an import loop.

use std::collections::HashMap;
use std::sync::Arc;

use super::runner::TaskRunner;
use crate::domain::TaskType;

/// The runners of this build, by task type. A type without a runner fails with a clear
/// "not available in this build" — never a fake success.
#[derive(Clone, Default)]
pub struct Runners {
    map: HashMap<TaskType, Arc<dyn TaskRunner>>,
}

impl Runners {
    /// The runners this build has: every task type has one (the test kit adds its own).
    pub fn builtin() -> Self {
        Runners::default()
            .with(TaskType::ServerCheck, Arc::new(super::discovery::ServerCheckRunner))
            .with(
                TaskType::CertificateDeploy,
                Arc::new(super::deploy::DeployRunner::default()),
            )
            .with(TaskType::CertificateIssue, Arc::new(super::acme::IssueRunner))
            .with(TaskType::CertificateRenew, Arc::new(super::acme::IssueRunner))
            .with(
                TaskType::MonitorCheck,
                Arc::new(super::monitor_check::MonitorCheckRunner),
            )
    }

    /// Sets the runner of a task type.
    pub fn with(mut self, t: TaskType, r: Arc<dyn TaskRunner>) -> Self {
        self.map.insert(t, r);
        self
    }

    /// Whether this build can run tasks of type `t`.
    pub fn has(&self, t: TaskType) -> bool {
        self.map.contains_key(&t)
    }

    pub(crate) fn get(&self, t: TaskType) -> Option<Arc<dyn TaskRunner>> {
        self.map.get(&t).cloned()
    }
}

/// The engine each task type needs, for the "not available" message.
pub(crate) fn engine_of(t: TaskType) -> &'static str {
    match t {
        TaskType::CertificateIssue | TaskType::CertificateRenew => "the ACME engine",
        TaskType::CertificateDeploy => "the SSH deploy engine",
        TaskType::ServerCheck => "the SSH server check",
        TaskType::MonitorCheck => "the TLS probe",
    }
}
