//! Domain types: one Rust enum per ENUM column of the design, and newtypes that parse and
//! validate input at the edge (domain names, hostnames, ports, e-mails, URLs, cron expressions);
//! pure parsing without I/O: certificate and key PEM/DER (`certpem`), OpenSSH client config
//! (`ssh_config`), nginx/Apache configuration (`webconf`), CIDR lists (`cidr`), other ACME
//! clients' renewal files (`acme_clients`), alert rule conditions (`alert_rules`) and when a
//! token server's agent counts as silent (`agent`).

pub mod acme_clients;
pub mod agent;
pub mod agent_wire;
pub mod alert_rules;
pub mod certpem;
pub mod cidr;
pub mod enums;
pub mod ssh_config;
pub mod values;
pub mod webconf;

pub use enums::*;
pub use values::*;
