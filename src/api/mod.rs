//! The HTTP face: `/metrics` (Prometheus).

pub mod metrics;
