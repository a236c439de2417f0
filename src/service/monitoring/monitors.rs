//! Monitors: what is probed (a certificate, a server or a domain), where, and with which trust.

use chrono::Utc;

use crate::domain::{DomainName, MonitorType, Port};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::monitoring::{self as store, MonitorFilter, MonitorRow, NewMonitor};
use crate::store::{Arg, Page, Sets};

use crate::service::{ensure_owner, ensure_same_owner, field, opt_text, Actor, Services};

/// Input of a monitor.
#[derive(Debug, Clone, Default)]
pub struct MonitorInput {
    /// Name.
    pub name: Option<String>,
    /// Type.
    pub monitor_type: Option<MonitorType>,
    /// Certificate or server id.
    pub target_id: Option<i64>,
    /// Domain (domain monitors).
    pub domain: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Seconds between checks.
    pub check_interval: Option<i64>,
    /// Enabled.
    pub is_active: Option<bool>,
    /// Host name or IP to connect to instead of the domain (empty clears).
    pub connect_address: Option<String>,
    /// PEM bundle to verify the chain against instead of the public roots (empty clears).
    pub trust_bundle_pem: Option<String>,
}

/// Validates a connect address and a trust bundle (`Some("")` clears either).
/// A field to change: `None` keeps it, `Some(None)` clears it.
type Change = Option<Option<String>>;

fn probe_overrides(input: &MonitorInput) -> ServiceResult<(Change, Change)> {
    let addr = match input.connect_address.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(a) => {
            let host = a.trim_start_matches('[').trim_end_matches(']');
            if host.parse::<std::net::IpAddr>().is_err() && crate::domain::DomainName::parse(host).is_err() {
                return Err(ServiceError::invalid(
                    "connect_address",
                    format!("'{a}' is neither an IP address nor a host name"),
                ));
            }
            crate::domain::check_len("connect_address", a, 255)?;
            Some(Some(a.to_string()))
        }
    };
    let trust = match input.trust_bundle_pem.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(pem) => {
            crate::domain::check_len("trust_bundle", pem, 65_535)?;
            match crate::domain::certpem::certificates_der(pem.as_bytes()) {
                Ok(v) if !v.is_empty() => Some(Some(pem.to_string())),
                _ => {
                    return Err(ServiceError::invalid(
                        "trust_bundle",
                        "must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
                    ))
                }
            }
        }
    };
    Ok((addr, trust))
}

impl Services {
    async fn check_monitor_target(
        &self,
        actor: &Actor,
        owner: i64,
        t: MonitorType,
        target: Option<i64>,
        domain: Option<&str>,
    ) -> ServiceResult<Option<String>> {
        match t {
            MonitorType::Certificate => {
                let id = target.ok_or_else(|| {
                    ServiceError::invalid("target_id", "a certificate monitor needs a certificate id")
                })?;
                let c = self.cert_get(actor, id).await?;
                ensure_same_owner(owner, c.user_id, "a monitor cannot watch another user's certificate")?;
                domain.map(concrete_domain).transpose()
            }
            MonitorType::Server => {
                let id =
                    target.ok_or_else(|| ServiceError::invalid("target_id", "a server monitor needs a server id"))?;
                let s = self.server_get(actor, id).await?;
                ensure_same_owner(owner, s.user_id, "a monitor cannot watch another user's server")?;
                domain.map(concrete_domain).transpose()
            }
            MonitorType::Domain => {
                let d = domain.ok_or_else(|| ServiceError::invalid("domain", "a domain monitor needs a domain"))?;
                concrete_domain(d).map(Some)
            }
        }
    }

    /// Creates a monitor owned by the actor.
    pub async fn monitor_create(&self, actor: &Actor, input: &MonitorInput) -> ServiceResult<MonitorRow> {
        actor.require_write("monitor.create")?;
        let name = opt_text("name", input.name.as_deref(), 100)?
            .ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let t = input
            .monitor_type
            .ok_or_else(|| ServiceError::invalid("type", "is required (certificate, server or domain)"))?;
        let domain = self
            .check_monitor_target(actor, actor.user_id, t, input.target_id, input.domain.as_deref())
            .await?;
        let port = match input.port {
            Some(p) => field("port", Port::new(p))?.get(),
            None => self.setting_number("monitor.default_port").await?.clamp(1, 65535) as u16,
        };
        let interval = match input.check_interval {
            Some(i) => i,
            None => self.setting_number("monitor.default_check_interval").await?,
        };
        if !(60..=31 * 86_400).contains(&interval) {
            return Err(ServiceError::invalid("check_interval", "must be 60 seconds to 31 days"));
        }
        let is_active = input.is_active.unwrap_or(true);
        let (connect_address, trust_bundle_pem) = probe_overrides(input)?;
        if t == MonitorType::Domain {
            let host = connect_address
                .clone()
                .flatten()
                .or_else(|| domain.clone())
                .unwrap_or_default();
            self.check_target("monitor address", &host, port).await?;
        }
        let new = NewMonitor {
            user_id: actor.user_id,
            name,
            monitor_type: t,
            target_id: if t == MonitorType::Domain {
                None
            } else {
                input.target_id
            },
            domain,
            port: Some(i32::from(port)),
            check_interval: interval as i32,
            is_active,
            next_check_at: is_active.then(Utc::now),
            connect_address: connect_address.flatten(),
            trust_bundle_pem: trust_bundle_pem.flatten(),
        };
        let audit = self.audit(
            Some(actor),
            "monitor.create",
            "monitor",
            None,
            serde_json::json!({
                "name": new.name, "type": t, "target_id": new.target_id, "domain": new.domain, "port": port,
            }),
        )?;
        let id = store::insert_monitor(self.db(), &new, &audit).await?;
        self.monitor_get(actor, id).await
    }

    /// A monitor visible to the actor.
    pub async fn monitor_get(&self, actor: &Actor, id: i64) -> ServiceResult<MonitorRow> {
        let row = store::get_monitor(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("monitor", id))?;
        ensure_owner(actor, row.user_id, "monitor", id)?;
        Ok(row)
    }

    /// A page of monitors.
    pub async fn monitor_list(
        &self,
        actor: &Actor,
        filter: &MonitorFilter,
        page: Page,
    ) -> ServiceResult<Vec<MonitorRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.user_id = Some(actor.user_id);
        }
        Ok(store::list_monitors(self.db(), &f, page).await?)
    }

    /// Edits a monitor (name, port, interval, enabled).
    pub async fn monitor_update(&self, actor: &Actor, id: i64, input: &MonitorInput) -> ServiceResult<MonitorRow> {
        actor.require_write("monitor.update")?;
        let row = self.monitor_get(actor, id).await?;
        if input.monitor_type.is_some_and(|t| t != row.monitor_type)
            || input.target_id.is_some()
            || input.domain.is_some()
        {
            return Err(ServiceError::invalid(
                "type",
                "the type and target of a monitor cannot change; create a new monitor",
            ));
        }
        let mut sets = Sets::new();
        let (addr, trust) = probe_overrides(input)?;
        if let Some(Some(a)) = &addr {
            let port = input.port.or(row.port.map(i64::from)).unwrap_or(443).clamp(1, 65_535) as u16;
            self.check_target("monitor address", a, port).await?;
        }
        if let Some(a) = addr {
            sets.set("connect_address", a.map(Arg::Str).unwrap_or(Arg::Null));
        }
        if let Some(t) = trust {
            sets.set("trust_bundle_pem", t.map(Arg::Str).unwrap_or(Arg::Null));
        }
        if let Some(n) = &input.name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        if let Some(p) = input.port {
            sets.set("port", Arg::I64(field("port", Port::new(p))?.get().into()));
        }
        if let Some(i) = input.check_interval {
            if !(60..=31 * 86_400).contains(&i) {
                return Err(ServiceError::invalid("check_interval", "must be 60 seconds to 31 days"));
            }
            sets.set("check_interval", Arg::I64(i));
        }
        if let Some(a) = input.is_active {
            sets.set("is_active", Arg::Bool(a));
            if a && !row.is_active {
                sets.set("next_check_at", Arg::Time(crate::store::now()));
            }
        }
        let audit = self.audit(Some(actor), "monitor.update", "monitor", Some(id), serde_json::json!({
            "name": input.name, "port": input.port, "check_interval": input.check_interval, "is_active": input.is_active,
        }))?;
        crate::store::audited::update_by_id(self.db(), "monitors", id, &sets, &audit).await?;
        self.monitor_get(actor, id).await
    }

    /// Deletes a monitor with its history; alert rules bound to it fall back to all monitors.
    pub async fn monitor_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.monitor_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "monitor.delete",
            "monitor",
            Some(id),
            serde_json::json!({"name": row.name}),
        )?;
        store::delete_monitor(self.db(), id, &audit).await?;
        Ok(())
    }
}

/// A domain a monitor can connect to: valid (IDN allowed, stored as A-labels) and not a wildcard.
fn concrete_domain(d: &str) -> ServiceResult<String> {
    let d = field("domain", DomainName::parse(d))?;
    if d.is_wildcard() {
        return Err(ServiceError::invalid(
            "domain",
            "a wildcard cannot be connected to; monitor a concrete name",
        ));
    }
    Ok(d.as_str().to_string())
}
