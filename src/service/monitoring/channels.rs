//! Notification channels (secret fields sealed in `config.secrets`) and the bindings that send an
//! alert rule's notifications to them.

use chrono::Utc;
use serde_json::{Map, Value};

use crate::domain::{ChannelType, Email, HttpUrl, Port};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::secrets::is_channel_secret;
use crate::store::monitoring::{self as store, ChannelRow};
use crate::store::secrets::{SealOnInsert, SealedColumn};
use crate::store::{Arg, Page, Sets};

use crate::service::{ensure_owner, ensure_same_owner, field, opt_text, Actor, Services};

/// A channel as shown: settings in clear, secrets only by name (values only when revealed).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ChannelView {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub channel_type: ChannelType,
    /// Non-secret settings.
    pub settings: Value,
    /// Names of the stored secret fields.
    pub secret_fields: Vec<String>,
    /// Secret values (only with reveal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Value>,
    /// Why the sealed secrets cannot be opened (altered, copied from another row, another
    /// key): the channel is listed and can be edited or deleted, but not used or revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_error: Option<String>,
    /// Enabled.
    pub is_active: bool,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
}

/// Required settings per channel kind.
fn required_fields(t: ChannelType) -> &'static [&'static str] {
    match t {
        ChannelType::Email => &["to", "smtp_host"],
        // The generic gateway needs its URL, the Aliyun preset its keys (checked by the sender).
        ChannelType::Sms => &[],
        ChannelType::Webhook => &["url"],
        ChannelType::Wechat | ChannelType::Slack => &["webhook_url"],
    }
}

fn validate_channel_fields(t: ChannelType, fields: &Map<String, Value>) -> ServiceResult<()> {
    for f in required_fields(t) {
        if fields.get(*f).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
            return Err(ServiceError::invalid(
                format!("config.{f}"),
                format!("is required for a {t} channel"),
            ));
        }
    }
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    for k in ["url", "webhook_url", "gateway_url"] {
        if let Some(u) = text(k) {
            field(&format!("config.{k}"), HttpUrl::parse(u))?;
        }
    }
    if let Some(to) = fields.get("to") {
        let list: Vec<&str> = match to {
            Value::String(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect(),
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => {
                return Err(ServiceError::invalid(
                    "config.to",
                    "must be an address or a list of addresses",
                ))
            }
        };
        if t == ChannelType::Email {
            for e in list {
                field("config.to", Email::parse(e))?;
            }
        }
    }
    if let Some(p) = fields.get("smtp_port") {
        let n = p
            .as_i64()
            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        field("config.smtp_port", Port::new(n))?;
    }
    Ok(())
}

impl Services {
    /// Validates a channel's fields and splits them into plain settings and secrets.
    fn split_channel_config(
        &self,
        t: ChannelType,
        fields: &Value,
    ) -> ServiceResult<(Map<String, Value>, Map<String, Value>)> {
        let Value::Object(map) = fields else {
            return Err(ServiceError::invalid("config", "must be a JSON object of settings"));
        };
        validate_channel_fields(t, map)?;
        // What the sender itself would refuse (addresses, https for vendors, missing secrets).
        let cfg = crate::service::notifications::channel_config(t, map, map)
            .map_err(|e| ServiceError::invalid("config", e))?;
        crate::engine::notify::validate(&cfg).map_err(|e| ServiceError::invalid("config", e.message))?;
        let (mut settings, mut secrets) = (Map::new(), Map::new());
        for (k, v) in map {
            if is_channel_secret(k) {
                secrets.insert(k.clone(), v.clone());
            } else {
                settings.insert(k.clone(), v.clone());
            }
        }
        Ok((settings, secrets))
    }

    pub(in crate::service) fn channel_view(&self, row: ChannelRow, reveal: bool) -> ServiceResult<ChannelView> {
        let config = row.config.0;
        let sealed = config.get("secrets").and_then(Value::as_str).unwrap_or_default();
        let opened: ServiceResult<Value> = if sealed.is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            self.open_at(SealedColumn::ChannelSecrets, row.id, sealed)
                .map_err(|e| ServiceError::Internal(format!("channel {}: {e}", row.id)))
                .and_then(|plain| serde_json::from_str(&plain).map_err(|e| ServiceError::Internal(e.to_string())))
        };
        // Revealing (or sending) needs the values; a listing only their names, so an unreadable
        // channel is still shown, with the reason, and can be fixed or deleted.
        let (secrets, secrets_error) = match opened {
            Ok(v) => (v, None),
            Err(e) if !reveal => (Value::Object(Map::new()), Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let secret_fields = secrets
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Ok(ChannelView {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            channel_type: row.channel_type,
            settings: config.get("settings").cloned().unwrap_or(Value::Object(Map::new())),
            secret_fields,
            secrets: reveal.then_some(secrets),
            secrets_error,
            is_active: row.is_active,
            created_at: row.created_at,
        })
    }

    /// Creates a notification channel; secret fields are sealed in `config.secrets`.
    pub async fn channel_create(
        &self,
        actor: &Actor,
        name: &str,
        t: ChannelType,
        fields: &Value,
    ) -> ServiceResult<ChannelView> {
        actor.require_write("channel.create")?;
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let (settings, secrets) = self.split_channel_config(t, fields)?;
        self.check_channel_fields_targets(t, fields).await?;
        let audit = self.audit(
            Some(actor),
            "channel.create",
            "alert_channel",
            None,
            serde_json::json!({
                "name": name, "type": t, "settings": settings, "secret_fields": secrets.keys().collect::<Vec<_>>(),
            }),
        )?;
        // The secrets are sealed for the new row's id, inside the INSERT's transaction.
        let config = serde_json::json!({"settings": settings, "secrets": Value::Null});
        let ring = self.keyring_arc();
        let sealed = SealOnInsert::new(SealedColumn::ChannelSecrets, move |id| {
            crate::service::secrets::channel_config_sealed(&ring, id, &settings, &secrets)
        });
        let id = store::insert_channel(self.db(), actor.user_id, &name, t, &config, vec![sealed], true, &audit).await?;
        self.channel_get(actor, id, false).await
    }

    /// A channel visible to the actor; secrets only with `reveal`.
    pub async fn channel_get(&self, actor: &Actor, id: i64, reveal: bool) -> ServiceResult<ChannelView> {
        let row = store::get_channel(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("channel", id))?;
        ensure_owner(actor, row.user_id, "channel", id)?;
        if reveal {
            actor.require_not_api("reveal channel secrets")?;
        }
        let view = self.channel_view(row, reveal)?;
        if reveal {
            let audit = self.audit_read(
                Some(actor),
                "channel.reveal",
                "alert_channel",
                Some(id),
                serde_json::json!({"name": view.name}),
            );
            crate::store::audit::insert(self.db(), &audit).await?;
        }
        Ok(view)
    }

    /// A page of channels (secrets not revealed).
    pub async fn channel_list(&self, actor: &Actor, page: Page) -> ServiceResult<Vec<ChannelView>> {
        store::list_channels(self.db(), actor.scope(), page)
            .await?
            .into_iter()
            .map(|r| self.channel_view(r, false))
            .collect()
    }

    /// Replaces a channel's configuration and/or name, or enables/disables it. The given fields
    /// replace the plain settings; a sealed field (URL, headers, keys) left out keeps its stored
    /// value, so an edit need not reveal it, and one set to `null` is removed.
    pub async fn channel_update(
        &self,
        actor: &Actor,
        id: i64,
        name: Option<&str>,
        fields: Option<&Value>,
        is_active: Option<bool>,
    ) -> ServiceResult<ChannelView> {
        actor.require_write("channel.update")?;
        let row = store::get_channel(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("channel", id))?;
        ensure_owner(actor, row.user_id, "channel", id)?;
        let mut sets = Sets::new();
        let mut details = serde_json::json!({"name": name, "is_active": is_active});
        if let Some(n) = name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        if let Some(f) = fields {
            let mut merged = f
                .as_object()
                .cloned()
                .ok_or_else(|| ServiceError::invalid("config", "must be a JSON object of settings"))?;
            // Unreadable stored secrets are not kept: the given fields must then be complete.
            if let Ok(Some(Value::Object(stored))) = self.channel_view(row.clone(), true).map(|v| v.secrets) {
                for (k, v) in stored {
                    merged.entry(k).or_insert(v);
                }
            }
            merged.retain(|_, v| !v.is_null());
            let merged = Value::Object(merged);
            self.check_channel_fields_targets(row.channel_type, &merged).await?;
            let (settings, secrets) = self.split_channel_config(row.channel_type, &merged)?;
            details["settings"] = Value::Object(settings.clone());
            details["secret_fields"] = secrets.keys().cloned().collect();
            let config = crate::service::secrets::channel_config_sealed(self.keyring(), id, &settings, &secrets)
                .map_err(ServiceError::Internal)?;
            sets.set("config", Arg::Str(config));
        }
        if let Some(a) = is_active {
            sets.set("is_active", Arg::Bool(a));
        }
        let audit = self.audit(Some(actor), "channel.update", "alert_channel", Some(id), details)?;
        crate::store::audited::update_by_id(self.db(), "alert_channels", id, &sets, &audit).await?;
        self.channel_get(actor, id, false).await
    }

    /// Deletes a channel and its bindings.
    pub async fn channel_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let c = self.channel_get(actor, id, false).await?;
        let audit = self.audit(
            Some(actor),
            "channel.delete",
            "alert_channel",
            Some(id),
            serde_json::json!({"name": c.name}),
        )?;
        store::delete_channel(self.db(), id, &audit).await?;
        Ok(())
    }

    /// Sends an alert rule's notifications to a channel (same owner only).
    pub async fn binding_create(&self, actor: &Actor, alert_id: i64, channel_id: i64) -> ServiceResult<()> {
        let a = self.alert_get(actor, alert_id).await?;
        let c = self.channel_get(actor, channel_id, false).await?;
        ensure_same_owner(
            a.user_id,
            c.user_id,
            "an alert rule and a channel of different users cannot be bound",
        )?;
        let audit = self.audit(
            Some(actor),
            "binding.create",
            "alert_channel_binding",
            None,
            serde_json::json!({"alert_id": alert_id, "channel_id": channel_id}),
        )?;
        store::insert_binding(self.db(), alert_id, channel_id, &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("alert {alert_id} is already bound to channel {channel_id}"))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Removes a binding.
    pub async fn binding_delete(&self, actor: &Actor, alert_id: i64, channel_id: i64) -> ServiceResult<()> {
        self.alert_get(actor, alert_id).await?;
        let audit = self.audit(
            Some(actor),
            "binding.delete",
            "alert_channel_binding",
            None,
            serde_json::json!({"alert_id": alert_id, "channel_id": channel_id}),
        )?;
        if store::delete_binding(self.db(), alert_id, channel_id, &audit).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "binding",
                format!("alert {alert_id} → channel {channel_id}"),
            ))
        }
    }

    /// The channels an alert rule notifies.
    pub async fn binding_list(
        &self,
        actor: &Actor,
        alert_id: i64,
    ) -> ServiceResult<Vec<crate::store::monitoring::BindingRow>> {
        self.alert_get(actor, alert_id).await?;
        Ok(store::bindings_of_alert(self.db(), alert_id).await?)
    }
}
