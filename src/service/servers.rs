//! Servers, server groups and group membership.

use crate::domain::{AuthType, Hostname, Port, PrivilegeMode, ServerStatus, ServerType};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::secrets::{SealOnInsert, SealedColumn};
use crate::store::servers::{self as store, GroupRow, NewServer, ServerConfigRow, ServerFilter, ServerRow};
use crate::store::{Arg, Page, Sets};

use super::{ensure_owner, ensure_same_owner, field, opt_text, Actor, Services};

/// Input of a new or edited server. Secrets are plaintext here and sealed before storage; no
/// face ever reads them back (rows say only `has_password`, `has_private_key`, …).
///
/// Also the JSON body of `POST /api/v1/servers` and `PATCH /api/v1/servers/{id}`: absent
/// members are "not given" (keep the stored value on an edit).
#[derive(Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerInput {
    /// Display name.
    pub name: Option<String>,
    /// Host name or IP.
    pub hostname: Option<String>,
    /// SSH port (default 22).
    pub port: Option<i64>,
    /// Web server kind (default nginx).
    pub server_type: Option<ServerType>,
    /// Auth type (default password).
    pub auth_type: Option<AuthType>,
    /// SSH user.
    pub username: Option<String>,
    /// SSH password (write-only: never returned).
    #[schemars(extend("writeOnly" = true))]
    pub password: Option<String>,
    /// SSH private key (OpenSSH or PEM text) (write-only: never returned).
    #[schemars(extend("writeOnly" = true))]
    pub private_key: Option<String>,
    /// Pull-agent token (write-only: never returned).
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
    /// Status (default active).
    pub status: Option<ServerStatus>,
    /// Passphrase of an encrypted private key (write-only: never returned).
    #[schemars(extend("writeOnly" = true))]
    pub key_passphrase: Option<String>,
    /// Reach the server through this server entry (ProxyJump); `Some(0)` clears it on edit.
    pub jump_server_id: Option<i64>,
    /// Run test and reload commands with `sudo -n`.
    pub privilege_mode: Option<PrivilegeMode>,
    /// Custom config test command (empty clears it on edit).
    pub test_command: Option<String>,
    /// Custom reload command (empty clears it on edit).
    pub reload_command: Option<String>,
    /// TLS port used to verify deploys (0 clears it on edit).
    pub verify_port: Option<i64>,
    /// Main web server config file (empty clears it on edit).
    pub config_root: Option<String>,
}

impl std::fmt::Debug for ServerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerInput")
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("auth_type", &self.auth_type)
            .finish_non_exhaustive()
    }
}

/// The `servers` secret columns: VARCHAR(255) for password and token, TEXT for the key.
const SHORT_SECRET_COLUMN: usize = 255;
const TEXT_COLUMN: usize = 65_535;

/// A secret of a new server, sealed for its row inside the INSERT's transaction.
fn seal_new(
    services: &Services,
    col: SealedColumn,
    field_name: &str,
    value: String,
    max: usize,
) -> ServiceResult<SealOnInsert> {
    services.seal_on_insert(col, field_name, zeroize::Zeroizing::new(value.into_bytes()), max)
}

/// A secret given in an input: trimmed; blank means "not given" (keep the stored one).
fn given_secret(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A command line setting: trimmed, at most 500 characters, one line; blank is none.
fn command_text(field_name: &str, v: Option<&str>) -> ServiceResult<Option<String>> {
    let v = opt_text(field_name, v, 500)?;
    if v.as_deref().is_some_and(|c| c.contains('\n') || c.contains('\r')) {
        return Err(ServiceError::invalid(field_name, "must be one line"));
    }
    Ok(v)
}

/// An absolute path setting; blank is none.
fn abs_path(field_name: &str, v: Option<&str>) -> ServiceResult<Option<String>> {
    let v = opt_text(field_name, v, 255)?;
    if v.as_deref().is_some_and(|p| !p.starts_with('/')) {
        return Err(ServiceError::invalid(
            field_name,
            "must be an absolute path on the server",
        ));
    }
    Ok(v)
}

fn check_private_key(text: &str) -> ServiceResult<()> {
    let t = text.trim();
    if !(t.starts_with("-----BEGIN") && t.contains("PRIVATE KEY-----")) {
        return Err(ServiceError::invalid(
            "private_key",
            "is not a PEM or OpenSSH private key (expected -----BEGIN … PRIVATE KEY-----)",
        ));
    }
    Ok(())
}

/// The setting that lists the non-admin users whose servers may use the certdeck host's own SSH
/// credentials (its ssh-agent, its key files): a JSON list of usernames, `[]` by default.
pub const HOST_CREDENTIALS_SETTING: &str = "ssh.operator_credentials_users";

/// What a refused user is told to do instead.
const STORE_A_KEY: &str = "store the key with the server instead (`certdeck server update ID --key-stdin < KEY_FILE`)";

impl Services {
    async fn host_credential_users(&self) -> ServiceResult<Vec<String>> {
        let value = crate::store::settings::get(self.db(), HOST_CREDENTIALS_SETTING)
            .await?
            .and_then(|r| r.setting_value)
            .unwrap_or_default();
        Ok(serde_json::from_str::<Vec<String>>(&value).unwrap_or_default())
    }

    /// Whether the servers of user `user_id` may use the certdeck host's own SSH credentials
    /// (the ssh-agent of the process that runs the task): admins, and the users an admin lists
    /// in the setting [`HOST_CREDENTIALS_SETTING`].
    pub async fn host_credentials_allowed(&self, user_id: i64) -> ServiceResult<bool> {
        let Some(user) = crate::store::users::get_user(self.db(), user_id).await? else {
            return Ok(false);
        };
        if user.role == crate::domain::UserRole::Admin {
            return Ok(true);
        }
        Ok(self
            .host_credential_users()
            .await?
            .iter()
            .any(|n| n.trim().eq_ignore_ascii_case(&user.username)))
    }

    /// Refuses a key server without a stored key (it would authenticate with the certdeck host's
    /// ssh-agent) for an owner who may not use the host's credentials.
    async fn check_agent_auth(&self, owner_id: i64) -> ServiceResult<()> {
        if self.host_credentials_allowed(owner_id).await? {
            return Ok(());
        }
        Err(ServiceError::invalid(
            "private_key",
            format!(
                "a key server without a stored key would authenticate with the ssh-agent of the certdeck host, which only \
                 admins (and users an admin lists in the setting {HOST_CREDENTIALS_SETTING}) may use: give the key \
                 (--key-stdin < KEY_FILE)"
            ),
        ))
    }

    /// Reads an SSH private key file on the certdeck host (CLI `--key-file`, the console's key
    /// field, ssh-config and CSV imports). Only admins and the users listed in
    /// [`HOST_CREDENTIALS_SETTING`] may; every read is audited. Others are told to store the key.
    pub async fn read_host_key_file(&self, actor: &Actor, path: &std::path::Path) -> ServiceResult<String> {
        let place = ("key_file", "server", "server.key_file_read");
        self.read_host_secret_file(actor, path, place, STORE_A_KEY).await
    }

    /// Reads a certificate's private key file on the certdeck host (`cert import --key`, the
    /// console's import form): the same rule as [`Services::read_host_key_file`], since the
    /// file holds a key the process may read and the user may not (then `cert export
    /// --reveal-key` would hand it out). Others give the key on standard input.
    pub async fn read_host_private_key_file(&self, actor: &Actor, path: &std::path::Path) -> ServiceResult<String> {
        self.read_host_secret_file(
            actor,
            path,
            ("private_key", "certificate", "certificate.key_file_read"),
            "give the key on standard input instead (`certdeck cert import --cert CERT --key - < KEY_FILE`)",
        )
        .await
    }

    /// The rule of both: `place` is (input field, audited resource type, audit action).
    async fn read_host_secret_file(
        &self,
        actor: &Actor,
        path: &std::path::Path,
        (field, resource, action): (&str, &str, &str),
        instead: &str,
    ) -> ServiceResult<String> {
        let allowed = actor.is_admin()
            || self
                .host_credential_users()
                .await?
                .iter()
                .any(|n| n.trim().eq_ignore_ascii_case(&actor.username));
        if !allowed {
            return Err(ServiceError::Forbidden(format!(
                "reading key files on the certdeck host ({}) is for admins and the users an admin lists in the setting \
                 {HOST_CREDENTIALS_SETTING}: {instead}",
                path.display()
            )));
        }
        let text = std::fs::read(path)
            .map_err(|e| ServiceError::invalid(field, format!("cannot read {}: {e}", path.display())))
            .and_then(|b| {
                String::from_utf8(b)
                    .map_err(|_| ServiceError::invalid(field, format!("{} is not a text key file", path.display())))
            })?;
        let audit = self.audit(
            Some(actor),
            action,
            resource,
            None,
            serde_json::json!({"path": path.display().to_string(), "admin": actor.is_admin()}),
        )?;
        crate::store::audit::insert(self.db(), &audit).await?;
        Ok(text)
    }

    /// Adds a server owned by the actor.
    pub async fn server_create(&self, actor: &Actor, input: &ServerInput) -> ServiceResult<ServerRow> {
        actor.require_write("server.create")?;
        let hostname = field(
            "hostname",
            Hostname::parse(input.hostname.as_deref().unwrap_or_default()),
        )?;
        let port = field("port", Port::new(input.port.unwrap_or(22)))?;
        let auth_type = input.auth_type.unwrap_or(AuthType::Password);
        let name = opt_text("name", input.name.as_deref(), 100)?;
        let username = opt_text("username", input.username.as_deref(), 50)?;
        let secret = |v: &Option<String>| given_secret(v).map(str::to_string);
        let (password, private_key, mut token) = (
            secret(&input.password),
            secret(&input.private_key),
            secret(&input.token),
        );
        match auth_type {
            AuthType::Password if password.is_none() => {
                return Err(ServiceError::invalid("password", "is required for auth type password"))
            }
            // A token server without a given token gets a random one (shown once by
            // `certdeck server token ID`).
            AuthType::Token if token.is_none() => token = Some(crate::crypto::token::generate_token()),
            _ => {}
        }
        if auth_type != AuthType::Token && username.is_none() {
            return Err(ServiceError::invalid("username", "an SSH user is required"));
        }
        if let Some(k) = &private_key {
            check_private_key(k)?;
        }
        let passphrase = secret(&input.key_passphrase);
        if passphrase.is_some() && auth_type != AuthType::Key {
            return Err(ServiceError::invalid("key_passphrase", "only applies to auth type key"));
        }
        if auth_type == AuthType::Key && private_key.is_none() {
            self.check_agent_auth(actor.user_id).await?;
        }
        let jump_server_id = match input.jump_server_id.filter(|j| *j != 0) {
            Some(j) => Some(self.check_jump(actor, actor.user_id, None, j).await?),
            None => None,
        };
        let new = NewServer {
            user_id: actor.user_id,
            name,
            hostname: hostname.as_str().to_string(),
            port: i32::from(port.get()),
            server_type: input.server_type.unwrap_or(ServerType::Nginx),
            auth_type,
            username,
            status: input.status.unwrap_or(ServerStatus::Active),
            // Sealed for the new row's id by `insert_server` (the id is bound into each envelope).
            password_encrypted: None,
            private_key_encrypted: None,
            token_encrypted: None,
            key_passphrase_encrypted: None,
            jump_server_id,
            privilege_mode: input.privilege_mode.unwrap_or(PrivilegeMode::None),
            test_command: command_text("test_command", input.test_command.as_deref())?,
            reload_command: command_text("reload_command", input.reload_command.as_deref())?,
            verify_port: match input.verify_port.filter(|p| *p != 0) {
                Some(p) => Some(i32::from(field("verify_port", Port::new(p))?.get())),
                None => None,
            },
            config_root: abs_path("config_root", input.config_root.as_deref())?,
        };
        let audit = self.audit(
            Some(actor),
            "server.create",
            "server",
            None,
            serde_json::json!({
                "hostname": new.hostname, "port": new.port, "server_type": new.server_type, "auth_type": new.auth_type,
                "username": new.username, "name": new.name, "status": new.status,
            }),
        )?;
        let mut sealed = Vec::new();
        for (col, name, value, max) in [
            (SealedColumn::ServerPassword, "password", password, SHORT_SECRET_COLUMN),
            (SealedColumn::ServerPrivateKey, "private_key", private_key, TEXT_COLUMN),
            (SealedColumn::ServerToken, "token", token, SHORT_SECRET_COLUMN),
            (
                SealedColumn::ServerKeyPassphrase,
                "key_passphrase",
                passphrase,
                SHORT_SECRET_COLUMN,
            ),
        ] {
            if let Some(v) = value {
                sealed.push(seal_new(self, col, name, v, max)?);
            }
        }
        let id = store::insert_server(self.db(), &new, sealed, &audit).await?;
        let label = new.name.clone().unwrap_or_else(|| new.hostname.clone());
        self.ensure_auto_monitor(actor, crate::domain::MonitorType::Server, id, &label)
            .await?;
        self.server_get(actor, id).await
    }

    /// Checks a jump server: visible, same owner, not the server itself, no loop, at most 4 hops.
    async fn check_jump(&self, actor: &Actor, owner: i64, this: Option<i64>, jump: i64) -> ServiceResult<i64> {
        let j = self.server_get(actor, jump).await.map_err(|_| {
            ServiceError::invalid(
                "jump_server_id",
                format!("server {jump} does not exist or is not yours"),
            )
        })?;
        ensure_same_owner(owner, j.user_id, "a jump server must belong to the same user")?;
        let mut next = Some(j);
        let mut hops = 0;
        while let Some(s) = next {
            if Some(s.id) == this {
                return Err(ServiceError::invalid(
                    "jump_server_id",
                    "would make a loop of jump servers",
                ));
            }
            hops += 1;
            if hops > 4 {
                return Err(ServiceError::invalid("jump_server_id", "more than 4 jump hops"));
            }
            next = match s.jump_server_id {
                Some(n) => store::get_server(self.db(), n).await?,
                None => None,
            };
        }
        Ok(jump)
    }

    /// A server visible to the actor.
    pub async fn server_get(&self, actor: &Actor, id: i64) -> ServiceResult<ServerRow> {
        let row = store::get_server(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("server", id))?;
        ensure_owner(actor, row.user_id, "server", id)?;
        Ok(row)
    }

    /// A page of the actor's servers (all for an admin).
    pub async fn server_list(&self, actor: &Actor, filter: &ServerFilter, page: Page) -> ServiceResult<Vec<ServerRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.user_id = Some(actor.user_id);
        }
        // Hostnames are stored lower-cased; every face matches them so.
        f.hostname = f.hostname.map(|h| h.trim().to_ascii_lowercase());
        Ok(store::list_servers(self.db(), &f, page).await?)
    }

    /// Edits a server; given secrets replace the stored ones.
    pub async fn server_update(&self, actor: &Actor, id: i64, input: &ServerInput) -> ServiceResult<ServerRow> {
        actor.require_write("server.update")?;
        let row = self.server_get(actor, id).await?;
        let mut sets = Sets::new();
        let mut changed = serde_json::Map::new();
        let mut moved = false;
        if let Some(h) = &input.hostname {
            let h = field("hostname", Hostname::parse(h))?;
            moved |= !h.as_str().eq_ignore_ascii_case(&row.hostname);
            changed.insert("hostname".into(), h.as_str().into());
            sets.set("hostname", Arg::Str(h.as_str().into()));
        }
        if let Some(p) = input.port {
            let p = field("port", Port::new(p))?;
            moved |= i32::from(p.get()) != row.port;
            changed.insert("port".into(), p.get().into());
            sets.set("port", Arg::I64(p.get().into()));
        }
        if let Some(n) = &input.name {
            let n = opt_text("name", Some(n), 100)?;
            changed.insert("name".into(), n.clone().into());
            sets.set("name", n.into());
        }
        if let Some(u) = &input.username {
            let u = opt_text("username", Some(u), 50)?;
            changed.insert("username".into(), u.clone().into());
            sets.set("username", u.into());
        }
        for (col, v) in [
            ("server_type", input.server_type.map(|v| v.as_str())),
            ("auth_type", input.auth_type.map(|v| v.as_str())),
            ("status", input.status.map(|v| v.as_str())),
        ] {
            if let Some(v) = v {
                changed.insert(col.into(), v.into());
                sets.set(col, Arg::Str(v.into()));
            }
        }
        if let Some(p) = given_secret(&input.password) {
            changed.insert("password".into(), "(changed)".into());
            sets.set(
                "password_encrypted",
                Arg::Str(self.seal_at(
                    SealedColumn::ServerPassword,
                    id,
                    "password",
                    p.as_bytes(),
                    SHORT_SECRET_COLUMN,
                )?),
            );
        }
        if let Some(k) = given_secret(&input.private_key) {
            check_private_key(k)?;
            changed.insert("private_key".into(), "(changed)".into());
            sets.set(
                "private_key_encrypted",
                Arg::Str(self.seal_at(
                    SealedColumn::ServerPrivateKey,
                    id,
                    "private_key",
                    k.as_bytes(),
                    TEXT_COLUMN,
                )?),
            );
        }
        if let Some(t) = given_secret(&input.token) {
            changed.insert("token".into(), "(changed)".into());
            sets.set(
                "token_encrypted",
                Arg::Str(self.seal_at(
                    SealedColumn::ServerToken,
                    id,
                    "token",
                    t.as_bytes(),
                    SHORT_SECRET_COLUMN,
                )?),
            );
        }
        if let Some(p) = given_secret(&input.key_passphrase) {
            changed.insert("key_passphrase".into(), "(changed)".into());
            sets.set(
                "key_passphrase_encrypted",
                Arg::Str(self.seal_at(
                    SealedColumn::ServerKeyPassphrase,
                    id,
                    "key_passphrase",
                    p.as_bytes(),
                    SHORT_SECRET_COLUMN,
                )?),
            );
        }
        if let Some(j) = input.jump_server_id {
            let j = if j == 0 {
                None
            } else {
                Some(self.check_jump(actor, row.user_id, Some(id), j).await?)
            };
            changed.insert("jump_server_id".into(), j.into());
            sets.set("jump_server_id", j.map(Arg::I64).unwrap_or(Arg::Null));
        }
        if let Some(m) = input.privilege_mode {
            changed.insert("privilege_mode".into(), m.as_str().into());
            sets.set("privilege_mode", Arg::Str(m.as_str().into()));
        }
        for (col, v) in [
            ("test_command", &input.test_command),
            ("reload_command", &input.reload_command),
        ] {
            if let Some(v) = v {
                let v = command_text(col, Some(v))?;
                changed.insert(col.into(), v.clone().into());
                sets.set(col, v.into());
            }
        }
        if let Some(p) = input.verify_port {
            let v = if p == 0 {
                None
            } else {
                Some(field("verify_port", Port::new(p))?.get())
            };
            changed.insert("verify_port".into(), v.into());
            sets.set("verify_port", v.map(|p| Arg::I64(p.into())).unwrap_or(Arg::Null));
        }
        if let Some(v) = &input.config_root {
            let v = abs_path("config_root", Some(v))?;
            changed.insert("config_root".into(), v.clone().into());
            sets.set("config_root", v.into());
        }
        let new_auth = input.auth_type.unwrap_or(row.auth_type);
        let has = |given: &Option<String>, stored: bool| given_secret(given).is_some() || stored;
        let ok = match new_auth {
            AuthType::Password => has(&input.password, row.has_password),
            // A key server without a stored key authenticates with the operator's ssh-agent:
            // only for owners who may use the host's credentials.
            AuthType::Key => {
                if !has(&input.private_key, row.has_private_key) {
                    self.check_agent_auth(row.user_id).await?;
                }
                true
            }
            AuthType::Token => has(&input.token, row.has_token),
        };
        if !ok {
            return Err(ServiceError::invalid(
                "auth_type",
                format!("auth type {new_auth} needs its secret: give it with this change"),
            ));
        }
        // Another address is another machine: what its deployments say was deployed (and the
        // duplicate check trusts as proof that a path is in use there) no longer holds.
        let audit = self.audit(
            Some(actor),
            "server.update",
            "server",
            Some(id),
            serde_json::Value::Object(changed),
        )?;
        if moved {
            crate::store::certificates::reset_deployments_of_server(self.db(), id).await?;
        }
        store_update(self, id, &sets, &audit).await?;
        if given_secret(&input.token).is_some() {
            // A new token: `certdeck server token ID` may show it (once).
            crate::store::agents::set_token_shown(self.db(), id, false).await?;
        }
        self.server_get(actor, id).await
    }

    /// Deletes a server with its configs and memberships; refused while deployments use it.
    pub async fn server_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.server_get(actor, id).await?;
        let n = store::count_server_deployments(self.db(), id).await?;
        if n > 0 {
            return Err(ServiceError::Conflict(format!(
                "server {id} has {n} certificate deployment(s): remove them first"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "server.delete",
            "server",
            Some(id),
            serde_json::json!({"hostname": row.hostname}),
        )?;
        store::delete_server(self.db(), id, &audit).await?;
        self.delete_monitors_of(actor, crate::domain::MonitorType::Server, id)
            .await?;
        Ok(())
    }

    /// The config files discovered on a server (without content).
    pub async fn server_configs(&self, actor: &Actor, server_id: i64) -> ServiceResult<Vec<ServerConfigRow>> {
        self.server_get(actor, server_id).await?;
        Ok(store::list_server_configs(self.db(), server_id).await?)
    }

    /// The groups a server belongs to.
    pub async fn server_groups_of(&self, actor: &Actor, server_id: i64) -> ServiceResult<Vec<GroupRow>> {
        self.server_get(actor, server_id).await?;
        Ok(store::groups_of_server(self.db(), server_id).await?)
    }

    // ------------------------------------------------------------ groups

    /// Creates a group owned by the actor.
    pub async fn group_create(&self, actor: &Actor, name: &str, description: Option<&str>) -> ServiceResult<GroupRow> {
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let description = opt_text("description", description, 255)?;
        let audit = self.audit(
            Some(actor),
            "group.create",
            "server_group",
            None,
            serde_json::json!({"name": name}),
        )?;
        let id = store::insert_group(self.db(), actor.user_id, &name, description.as_deref(), &audit).await?;
        self.group_get(actor, id).await
    }

    /// A group visible to the actor.
    pub async fn group_get(&self, actor: &Actor, id: i64) -> ServiceResult<GroupRow> {
        let row = store::get_group(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("server group", id))?;
        ensure_owner(actor, row.user_id, "server group", id)?;
        Ok(row)
    }

    /// A page of groups.
    pub async fn group_list(&self, actor: &Actor, page: Page) -> ServiceResult<Vec<GroupRow>> {
        Ok(store::list_groups(self.db(), actor.scope(), page).await?)
    }

    /// Renames or re-describes a group.
    pub async fn group_update(
        &self,
        actor: &Actor,
        id: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ServiceResult<GroupRow> {
        self.group_get(actor, id).await?;
        let mut sets = Sets::new();
        if let Some(n) = name {
            let n = opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?;
            sets.set("name", Arg::Str(n));
        }
        if let Some(d) = description {
            sets.set("description", opt_text("description", Some(d), 255)?.into());
        }
        let audit = self.audit(
            Some(actor),
            "group.update",
            "server_group",
            Some(id),
            serde_json::json!({"name": name, "description": description}),
        )?;
        store_update_table(self, "server_groups", id, &sets, &audit).await?;
        self.group_get(actor, id).await
    }

    /// Deletes a group (its servers stay).
    pub async fn group_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let g = self.group_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "group.delete",
            "server_group",
            Some(id),
            serde_json::json!({"name": g.name}),
        )?;
        store::delete_group(self.db(), id, &audit).await?;
        Ok(())
    }

    /// Adds a server to a group; both must have the same owner.
    pub async fn group_add_server(&self, actor: &Actor, group_id: i64, server_id: i64) -> ServiceResult<()> {
        let g = self.group_get(actor, group_id).await?;
        let s = self.server_get(actor, server_id).await?;
        ensure_same_owner(
            g.user_id,
            s.user_id,
            "a server and a group of different users cannot be linked",
        )?;
        let audit = self.audit(
            Some(actor),
            "group.add_server",
            "server_group",
            Some(group_id),
            serde_json::json!({"server_id": server_id}),
        )?;
        store::add_mapping(self.db(), server_id, group_id, &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("server {server_id} is already in group {}", g.name))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Removes a server from a group.
    pub async fn group_remove_server(&self, actor: &Actor, group_id: i64, server_id: i64) -> ServiceResult<()> {
        self.group_get(actor, group_id).await?;
        let audit = self.audit(
            Some(actor),
            "group.remove_server",
            "server_group",
            Some(group_id),
            serde_json::json!({"server_id": server_id}),
        )?;
        if store::remove_mapping(self.db(), server_id, group_id, &audit).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "group membership",
                format!("server {server_id} in group {group_id}"),
            ))
        }
    }
}

async fn store_update(
    services: &Services,
    id: i64,
    sets: &Sets,
    audit: &crate::store::audit::NewAudit,
) -> ServiceResult<()> {
    store_update_table(services, "servers", id, sets, audit).await
}

async fn store_update_table(
    services: &Services,
    table: &str,
    id: i64,
    sets: &Sets,
    audit: &crate::store::audit::NewAudit,
) -> ServiceResult<()> {
    if crate::store::audited::update_by_id(services.db(), table, id, sets, audit).await? {
        Ok(())
    } else {
        Err(ServiceError::not_found("row", id))
    }
}
