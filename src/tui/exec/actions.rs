//! Row actions (delete, enable/disable, run now, retry, cancel, resolve, show PEM) and unlinking
//! rows listed in a detail.

use super::{note, on_off, Runner};
use crate::domain::ApiKeyStatus;
use crate::domain::TaskType;
use crate::errors::ServiceError;
use crate::service::deploy::DeployTarget;
use crate::service::monitoring::{AlertInput, MonitorInput};
use crate::service::onboarding::ImportDefaults;
use crate::service::tasks::TaskInput;
use crate::service::users::UserEdit;
use crate::service::Actor;
use crate::tui::action::Action;
use crate::tui::effects::{Note, Redacted, Reply};
use crate::tui::resources::Kind;
use crate::tui::state::Link;

impl Runner {
    /// Imports the certificate a discovered site serves, bound to the site.
    pub(super) async fn import_site(&self, a: &Actor, site: i64) -> Result<Reply, ServiceError> {
        let (c, _) = self.svc.site_import(a, site).await?;
        Ok(Reply::Done(note(
            "done.imported",
            "noun.certificate",
            &format!("{} (#{})", c.main_domain, c.id),
        )))
    }

    /// Imports servers from `~/.ssh/config` and shows the per-line report.
    pub(super) async fn import_ssh(&self, a: &Actor) -> Result<Reply, ServiceError> {
        let path = directories::BaseDirs::new()
            .map(|b| b.home_dir().join(".ssh/config"))
            .ok_or_else(|| ServiceError::invalid("file", "no home directory"))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ServiceError::invalid("file", format!("cannot read {}: {e}", path.display())))?;
        let lines = self
            .svc
            .servers_import_ssh_config(a, &text, &ImportDefaults::default())
            .await?;
        let added = lines.iter().filter(|l| l.added.is_some()).count();
        let report = lines
            .iter()
            .map(|l| match (&l.added, &l.skipped) {
                (Some(id), _) => format!("{:>4}  {:<20} + server #{id}", l.line, l.name),
                (None, Some(why)) => format!("{:>4}  {:<20} - {why}", l.line, l.name),
                (None, None) => format!("{:>4}  {}", l.line, l.name),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Reply::Report(
            "report.import",
            note("done.imported", "noun.servers", &format!("{added}/{}", lines.len())),
            if report.is_empty() {
                path.display().to_string()
            } else {
                report
            },
        ))
    }

    pub(super) async fn unlink(&self, a: &Actor, link: Link, id: i64, other: i64) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        match link {
            Link::Deployment => {
                s.deployment_delete(a, other).await?;
                Ok(Reply::Done(note(
                    "done.deleted",
                    "noun.deployment",
                    &format!("#{other}"),
                )))
            }
            Link::Binding => {
                s.binding_delete(a, id, other).await?;
                Ok(Reply::Done(note("done.unbound", "noun.channel", &format!("#{other}"))))
            }
            Link::GroupMember => {
                s.group_remove_server(a, id, other).await?;
                Ok(Reply::Done(note(
                    "done.left_group",
                    "noun.server",
                    &format!("#{other}"),
                )))
            }
            Link::Site => Err(ServiceError::Conflict(
                "a discovered site is not removed here: the next check finds the config files again".into(),
            )),
            Link::ServerGroup => {
                s.group_remove_server(a, other, id).await?;
                Ok(Reply::Done(note("done.left_group", "noun.server", &format!("#{id}"))))
            }
        }
    }

    pub(super) async fn row_action(
        &self,
        a: &Actor,
        action: Action,
        kind: Kind,
        id: i64,
        arg: Option<String>,
    ) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        let done = |n: Note| Ok(Reply::Done(n));
        match (action, kind) {
            (Action::Delete, Kind::Certificates) => {
                s.cert_delete(a, id).await?;
                done(note("done.deleted", "noun.certificate", &format!("#{id}")))
            }
            (Action::Delete, Kind::Servers) => {
                s.server_delete(a, id).await?;
                done(note("done.deleted", "noun.server", &format!("#{id}")))
            }
            (Action::Delete, Kind::Groups) => {
                s.group_delete(a, id).await?;
                done(note("done.deleted", "noun.group", &format!("#{id}")))
            }
            (Action::Delete, Kind::Monitors) => {
                s.monitor_delete(a, id).await?;
                done(note("done.deleted", "noun.monitor", &format!("#{id}")))
            }
            (Action::Delete, Kind::Alerts) => {
                s.alert_delete(a, id).await?;
                done(note("done.deleted", "noun.alert", &format!("#{id}")))
            }
            (Action::Delete, Kind::Channels) => {
                s.channel_delete(a, id).await?;
                done(note("done.deleted", "noun.channel", &format!("#{id}")))
            }
            (Action::Delete, Kind::Users) => {
                s.user_delete(a, &id.to_string()).await?;
                done(note("done.deleted", "noun.user", &format!("#{id}")))
            }
            (Action::Delete, Kind::ApiKeys) => {
                s.apikey_set_status(a, &id.to_string(), ApiKeyStatus::Revoked).await?;
                done(note("done.revoked", "noun.apikey", &format!("#{id}")))
            }
            (Action::Delete, Kind::Preferences) => {
                let key = s
                    .user_settings_list(a)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .map(|r| r.setting_key)
                    .ok_or_else(|| ServiceError::not_found("setting", id))?;
                s.user_setting_delete(a, &key).await?;
                done(note("done.removed", "noun.setting", &key))
            }
            (Action::Toggle, Kind::Monitors) => {
                let m = s.monitor_get(a, id).await?;
                let input = MonitorInput {
                    is_active: Some(!m.is_active),
                    ..Default::default()
                };
                let m = s.monitor_update(a, id, &input).await?;
                done(note(on_off(m.is_active), "noun.monitor", &m.name))
            }
            (Action::Toggle, Kind::Alerts) => {
                let r = s.alert_get(a, id).await?;
                let input = AlertInput {
                    is_active: Some(!r.is_active),
                    ..Default::default()
                };
                let r = s.alert_update(a, id, &input).await?;
                done(note(on_off(r.is_active), "noun.alert", &r.name))
            }
            (Action::Toggle, Kind::Channels) => {
                let c = s.channel_get(a, id, false).await?;
                let c = s.channel_update(a, id, None, None, Some(!c.is_active)).await?;
                done(note(on_off(c.is_active), "noun.channel", &c.name))
            }
            (Action::Toggle, Kind::Schedules) => {
                let r = s.schedule_get(a, id).await?;
                let r = s.schedule_set_active(a, id, !r.is_active).await?;
                done(note(on_off(r.is_active), "noun.schedule", &r.name))
            }
            (Action::Toggle, Kind::Users) => {
                let u = s.user_get(a, &id.to_string()).await?;
                let status = if u.status.as_str() == "active" {
                    crate::domain::UserStatus::Inactive
                } else {
                    crate::domain::UserStatus::Active
                };
                let changes = UserEdit {
                    status: Some(status),
                    ..Default::default()
                };
                let u = s.user_update(a, &id.to_string(), &changes).await?;
                done(note(on_off(u.status.as_str() == "active"), "noun.user", &u.username))
            }
            (Action::Toggle, Kind::ApiKeys) => {
                let k = s
                    .apikey_list(
                        a,
                        crate::service::query::Page {
                            before_id: Some(id + 1),
                            limit: 1,
                        },
                    )
                    .await?
                    .into_iter()
                    .find(|k| k.id == id)
                    .ok_or_else(|| ServiceError::not_found("api key", id))?;
                let to = if k.status == ApiKeyStatus::Active {
                    ApiKeyStatus::Inactive
                } else {
                    ApiKeyStatus::Active
                };
                let k = s.apikey_set_status(a, &id.to_string(), to).await?;
                done(note(
                    on_off(k.status == ApiKeyStatus::Active),
                    "noun.apikey",
                    &k.key_name,
                ))
            }
            (Action::RunNow, Kind::Schedules) => {
                let r = s.schedule_run_now(a, id).await?;
                done(note("done.queued", "noun.schedule", &r.name))
            }
            (Action::Retry, Kind::Tasks) => {
                s.task_retry(a, id).await?;
                done(note("done.queued", "noun.task", &format!("#{id}")))
            }
            (Action::CancelTask, Kind::Tasks) => {
                s.task_cancel(a, id).await?;
                done(note("done.cancelled", "noun.task", &format!("#{id}")))
            }
            (Action::Acknowledge, Kind::History) => {
                s.alert_acknowledge(a, id).await?;
                done(note("done.acknowledged", "noun.history", &format!("#{id}")))
            }
            (Action::Resolve, Kind::History) => {
                s.alert_resolve(a, id).await?;
                done(note("done.resolved", "noun.history", &format!("#{id}")))
            }
            (Action::ShowPem, Kind::Certificates) => {
                let e = s.cert_export(a, id, false).await?;
                Ok(Reply::Secret(
                    "reveal.pem",
                    note("done.shown", "noun.certificate", &format!("#{id}")),
                    Redacted(e.fullchain_pem),
                ))
            }
            (Action::Check, Kind::Monitors) => {
                let t = s
                    .task_enqueue(
                        a,
                        &TaskInput {
                            task_type: Some(TaskType::MonitorCheck),
                            priority: Some(8),
                            target_type: Some("monitor".into()),
                            target_id: Some(id),
                            max_attempts: Some(1),
                            ..Default::default()
                        },
                    )
                    .await?;
                done(note("done.queued", "noun.monitor_check", &format!("#{}", t.id)))
            }
            (Action::TestChannel, Kind::Channels) => {
                let said = s.channel_test(a, id).await?;
                done(note("done.tested", "noun.channel", &said))
            }
            (Action::Check, Kind::Servers) => {
                let t = s
                    .task_enqueue(
                        a,
                        &TaskInput {
                            task_type: Some(TaskType::ServerCheck),
                            priority: Some(8),
                            target_type: Some("server".into()),
                            target_id: Some(id),
                            max_attempts: Some(3),
                            ..Default::default()
                        },
                    )
                    .await?;
                done(note("done.queued", "noun.server_check", &format!("#{}", t.id)))
            }
            (Action::TrustHostKey, Kind::Servers) => match arg {
                // Second step: the operator saw this fingerprint and confirmed it.
                Some(fp) => {
                    s.server_trust_host_key(a, id, &fp).await?;
                    done(note("done.trusted", "noun.server", &fp))
                }
                None => {
                    let c = s.server_host_key(a, id).await?;
                    let label = match &c.stored {
                        Some(old) if *old == c.presented => format!("{} (already trusted)", c.presented),
                        Some(old) => format!("{} — CHANGED, was {old}", c.presented),
                        None => c.presented.clone(),
                    };
                    Ok(Reply::AskHostKey {
                        id,
                        label,
                        presented: c.presented,
                    })
                }
            },
            (Action::Renew, Kind::Certificates) => {
                let t = s.cert_renew(a, id).await?;
                done(note("done.queued", "noun.renewal", &format!("#{}", t.id)))
            }
            (Action::Revoke, Kind::Certificates) => {
                let c = s.cert_revoke(a, id, "unspecified").await?;
                done(note("done.revoked", "noun.certificate", &c.main_domain))
            }
            (Action::Deploy, Kind::Certificates) => {
                let t = s.deploy_enqueue(a, id, DeployTarget::All).await?;
                done(note("done.queued", "noun.deploy", &format!("#{}", t.id)))
            }
            (Action::Deploy, Kind::Servers) => {
                let mut certs: Vec<i64> = s
                    .deployment_list(a, None, Some(id))
                    .await?
                    .into_iter()
                    .map(|d| d.certificate_id)
                    .collect();
                certs.sort_unstable();
                certs.dedup();
                if certs.is_empty() {
                    return Err(ServiceError::invalid(
                        "server",
                        "no certificate is bound to this server: bind one from the certificate's deployments tab",
                    ));
                }
                let mut ids = Vec::new();
                for c in certs {
                    ids.push(format!(
                        "#{}",
                        s.deploy_enqueue(a, c, DeployTarget::Server(id)).await?.id
                    ));
                }
                done(note("done.queued", "noun.deploy", &ids.join(", ")))
            }
            (action, kind) => Err(ServiceError::Conflict(format!(
                "{} does not apply to {kind:?}",
                action.name()
            ))),
        }
    }
}
