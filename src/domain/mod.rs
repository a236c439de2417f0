//! Domain types: one Rust enum per ENUM column of the design, and newtypes that parse and
//! validate input at the edge (domain names, hostnames, ports, e-mails, URLs, cron expressions).

pub mod acme_clients;
pub mod alert_rules;
pub mod certpem;
pub mod cidr;
pub mod enums;
pub mod ssh_config;
pub mod values;
pub mod webconf;

pub use enums::*;
pub use values::*;
