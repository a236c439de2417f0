//! The database design (`/work/shared/seed/000_8174398f84aaf536.txt`, sections 2.1–2.6),
//! TRANSCRIBED BY HAND into data. Never generate this from `migrations/`: it is the yardstick
//! the migrations are measured against.
//!
//! Column types, defaults and EXTRA are written as MariaDB 10.11 reports them in
//! `information_schema.COLUMNS`: `BIGINT` → `bigint(20)`, `INT` → `int(11)`, `BOOLEAN` →
//! `tinyint(1)` (defaults `1`/`0`), `JSON` → `longtext` (plus a `json_valid` CHECK),
//! `ENUM('a', 'b')` → `enum('a','b')`, string defaults quoted (`'user'`), `CURRENT_TIMESTAMP`
//! → `current_timestamp()`, a nullable column without DEFAULT → `NULL`, a NOT NULL column
//! without DEFAULT → no default (SQL NULL, `None` here).
//!
//! Below the design come certdeck's own additions (section "Allowed additions"): anything else
//! the database holds is a deviation from the design.
#![allow(dead_code)]

/// One column of the design.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// `COLUMN_TYPE` as MariaDB reports it.
    pub ty: &'static str,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// `COLUMN_DEFAULT` as MariaDB reports it; `None` = SQL NULL (no default at all).
    pub default: Option<&'static str>,
    /// `EXTRA`.
    pub extra: &'static str,
}

impl Column {
    /// Whether the design declares this column `JSON`.
    pub fn is_json(&self) -> bool {
        self.ty == JSON
    }

    /// Whether the design gives it `ON UPDATE CURRENT_TIMESTAMP`.
    pub fn on_update(&self) -> bool {
        self.extra == ON_UPDATE
    }
}

/// One index of the design (`PRIMARY` for the primary key).
#[derive(Debug, Clone, Copy)]
pub struct Index {
    /// Index name.
    pub name: &'static str,
    /// Its columns, in order.
    pub columns: &'static [&'static str],
    /// UNIQUE (or PRIMARY).
    pub unique: bool,
}

/// One foreign key of the design.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: &'static str,
    /// The referencing column.
    pub column: &'static str,
    /// The referenced table.
    pub ref_table: &'static str,
    /// The referenced column.
    pub ref_column: &'static str,
}

/// One table of the design.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// Design section, for messages.
    pub section: &'static str,
    /// Columns in design order.
    pub columns: &'static [Column],
    /// Indexes, the primary key first.
    pub indexes: &'static [Index],
    /// Foreign keys.
    pub foreign_keys: &'static [ForeignKey],
}

impl Table {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

// ---- Type spellings (MariaDB's information_schema) ----
pub const BIGINT: &str = "bigint(20)";
pub const INT: &str = "int(11)";
pub const BOOLEAN: &str = "tinyint(1)";
pub const DATETIME: &str = "datetime";
pub const TEXT: &str = "text";
/// `JSON` in the design; MariaDB makes it `LONGTEXT` with a `json_valid` CHECK.
pub const JSON: &str = "longtext";
pub const CURRENT_TIMESTAMP: &str = "current_timestamp()";
pub const ON_UPDATE: &str = "on update current_timestamp()";

// ---- Column shorthands ----
/// `id BIGINT PRIMARY KEY AUTO_INCREMENT`.
const fn id() -> Column {
    Column {
        name: "id",
        ty: BIGINT,
        nullable: false,
        default: None,
        extra: "auto_increment",
    }
}
/// `NOT NULL`, no DEFAULT.
const fn nn(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        default: None,
        extra: "",
    }
}
/// `NOT NULL DEFAULT d`.
const fn nn_d(name: &'static str, ty: &'static str, d: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        default: Some(d),
        extra: "",
    }
}
/// Nullable, no DEFAULT (MariaDB reports `NULL`).
const fn opt(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        default: Some("NULL"),
        extra: "",
    }
}
/// Nullable with `DEFAULT d`.
const fn opt_d(name: &'static str, ty: &'static str, d: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        default: Some(d),
        extra: "",
    }
}
/// `created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP`.
const fn created_at() -> Column {
    Column {
        name: "created_at",
        ty: DATETIME,
        nullable: false,
        default: Some(CURRENT_TIMESTAMP),
        extra: "",
    }
}
/// `updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP`.
const fn updated_at() -> Column {
    Column {
        name: "updated_at",
        ty: DATETIME,
        nullable: false,
        default: Some(CURRENT_TIMESTAMP),
        extra: ON_UPDATE,
    }
}
const fn primary() -> Index {
    Index {
        name: "PRIMARY",
        columns: &["id"],
        unique: true,
    }
}
const fn idx(name: &'static str, columns: &'static [&'static str]) -> Index {
    Index {
        name,
        columns,
        unique: false,
    }
}
const fn uniq(name: &'static str, columns: &'static [&'static str]) -> Index {
    Index {
        name,
        columns,
        unique: true,
    }
}
const fn fk(name: &'static str, column: &'static str, ref_table: &'static str) -> ForeignKey {
    ForeignKey {
        name,
        column,
        ref_table,
        ref_column: "id",
    }
}

/// The 21 tables of the design, in document order.
pub const TABLES: &[Table] = &[
    // 2.1.1
    Table {
        name: "users",
        section: "2.1.1",
        columns: &[
            id(),
            nn("username", "varchar(50)"),
            nn("email", "varchar(100)"),
            nn("password_hash", "varchar(255)"),
            opt("full_name", "varchar(100)"),
            opt("phone", "varchar(20)"),
            nn_d("role", "enum('admin','user','api')", "'user'"),
            nn_d("status", "enum('active','inactive','locked')", "'active'"),
            opt("last_login_at", DATETIME),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            uniq("idx_username", &["username"]),
            uniq("idx_email", &["email"]),
            idx("idx_status", &["status"]),
        ],
        foreign_keys: &[],
    },
    // 2.1.2
    Table {
        name: "api_keys",
        section: "2.1.2",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("key_name", "varchar(50)"),
            nn("api_key", "varchar(64)"),
            nn("secret_hash", "varchar(255)"),
            nn_d("status", "enum('active','inactive','revoked')", "'active'"),
            opt("expires_at", DATETIME),
            opt("last_used_at", DATETIME),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            uniq("idx_api_key", &["api_key"]),
            idx("idx_status", &["status"]),
        ],
        foreign_keys: &[fk("fk_api_keys_user", "user_id", "users")],
    },
    // 2.1.3
    Table {
        name: "user_tokens",
        section: "2.1.3",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("token_type", "enum('access','refresh')"),
            nn("token_hash", "varchar(255)"),
            nn("expires_at", DATETIME),
            opt("client_ip", "varchar(45)"),
            opt("user_agent", "varchar(255)"),
            nn_d("is_revoked", BOOLEAN, "0"),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_token_type_expires", &["token_type", "expires_at"]),
            idx("idx_is_revoked", &["is_revoked"]),
        ],
        foreign_keys: &[fk("fk_user_tokens_user", "user_id", "users")],
    },
    // 2.2.1
    Table {
        name: "servers",
        section: "2.2.1",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            opt("name", "varchar(100)"),
            nn("hostname", "varchar(255)"),
            nn_d("port", INT, "22"),
            nn_d("server_type", "enum('nginx','apache','other')", "'nginx'"),
            opt("os_type", "varchar(50)"),
            opt("os_version", "varchar(50)"),
            opt("web_server_version", "varchar(50)"),
            nn_d("auth_type", "enum('password','key','token')", "'password'"),
            opt("username", "varchar(50)"),
            opt("password_encrypted", "varchar(255)"),
            opt("private_key_encrypted", TEXT),
            opt("token_encrypted", "varchar(255)"),
            nn_d("status", "enum('active','inactive','error')", "'active'"),
            opt("last_check_at", DATETIME),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_hostname", &["hostname"]),
            idx("idx_server_type", &["server_type"]),
            idx("idx_status", &["status"]),
        ],
        foreign_keys: &[fk("fk_servers_user", "user_id", "users")],
    },
    // 2.2.2
    Table {
        name: "server_configs",
        section: "2.2.2",
        columns: &[
            id(),
            nn("server_id", BIGINT),
            nn("config_type", "enum('nginx','apache','system')"),
            nn("config_path", "varchar(255)"),
            opt("config_content", TEXT),
            nn_d("is_active", BOOLEAN, "1"),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_config_type", &["config_type"]),
            idx("idx_is_active", &["is_active"]),
        ],
        foreign_keys: &[fk("fk_server_configs_server", "server_id", "servers")],
    },
    // 2.2.3
    Table {
        name: "server_groups",
        section: "2.2.3",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("name", "varchar(100)"),
            opt("description", "varchar(255)"),
            created_at(),
            updated_at(),
        ],
        indexes: &[primary(), idx("idx_name", &["name"])],
        foreign_keys: &[fk("fk_server_groups_user", "user_id", "users")],
    },
    // 2.2.4
    Table {
        name: "server_group_mappings",
        section: "2.2.4",
        columns: &[id(), nn("server_id", BIGINT), nn("group_id", BIGINT), created_at()],
        indexes: &[primary(), uniq("idx_server_group", &["server_id", "group_id"])],
        foreign_keys: &[
            fk("fk_mappings_server", "server_id", "servers"),
            fk("fk_mappings_group", "group_id", "server_groups"),
        ],
    },
    // 2.3.1
    Table {
        name: "certificates",
        section: "2.3.1",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            opt("name", "varchar(100)"),
            nn("domains", TEXT),
            nn("main_domain", "varchar(255)"),
            opt("issuer", "varchar(100)"),
            nn("certificate_type", "enum('single','wildcard','multi-domain')"),
            nn_d("encryption_type", "enum('RSA','ECC')", "'RSA'"),
            nn_d(
                "status",
                "enum('pending','issued','expired','revoked','error')",
                "'pending'",
            ),
            opt("certificate_pem", TEXT),
            opt("private_key_encrypted", TEXT),
            opt("chain_pem", TEXT),
            opt("issued_at", DATETIME),
            opt("expires_at", DATETIME),
            nn_d("auto_renew", BOOLEAN, "1"),
            nn_d("renew_before_days", INT, "30"),
            opt("last_renewal_at", DATETIME),
            opt("notes", TEXT),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_main_domain", &["main_domain"]),
            idx("idx_status", &["status"]),
            idx("idx_expires_at", &["expires_at"]),
            idx("idx_certificate_type", &["certificate_type"]),
        ],
        foreign_keys: &[fk("fk_certificates_user", "user_id", "users")],
    },
    // 2.3.2
    Table {
        name: "certificate_deployments",
        section: "2.3.2",
        columns: &[
            id(),
            nn("certificate_id", BIGINT),
            nn("server_id", BIGINT),
            nn("deploy_path", "varchar(255)"),
            opt("config_path", "varchar(255)"),
            nn_d("status", "enum('pending','deployed','failed')", "'pending'"),
            nn_d("auto_deploy", BOOLEAN, "1"),
            opt("last_deploy_at", DATETIME),
            opt("error_message", TEXT),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_status", &["status"]),
            idx("idx_auto_deploy", &["auto_deploy"]),
            uniq("idx_cert_server", &["certificate_id", "server_id"]),
        ],
        foreign_keys: &[
            fk("fk_deployments_certificate", "certificate_id", "certificates"),
            fk("fk_deployments_server", "server_id", "servers"),
        ],
    },
    // 2.3.3
    Table {
        name: "dns_challenges",
        section: "2.3.3",
        columns: &[
            id(),
            nn("certificate_id", BIGINT),
            nn("domain", "varchar(255)"),
            nn_d("challenge_type", "enum('dns-01','http-01')", "'dns-01'"),
            nn("record_name", "varchar(255)"),
            nn("record_type", "varchar(10)"),
            nn("record_value", TEXT),
            nn_d("status", "enum('pending','verified','failed')", "'pending'"),
            opt("verified_at", DATETIME),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_domain", &["domain"]),
            idx("idx_status", &["status"]),
        ],
        foreign_keys: &[fk("fk_dns_challenges_certificate", "certificate_id", "certificates")],
    },
    // 2.4.1
    Table {
        name: "monitors",
        section: "2.4.1",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("name", "varchar(100)"),
            nn("monitor_type", "enum('certificate','server','domain')"),
            opt("target_id", BIGINT),
            opt("domain", "varchar(255)"),
            opt_d("port", INT, "443"),
            nn_d("check_interval", INT, "86400"),
            nn_d("is_active", BOOLEAN, "1"),
            opt("last_check_at", DATETIME),
            opt("next_check_at", DATETIME),
            nn_d("status", "enum('ok','warning','error','unknown')", "'unknown'"),
            opt("status_message", TEXT),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_monitor_type", &["monitor_type"]),
            idx("idx_target_id", &["target_id"]),
            idx("idx_domain", &["domain"]),
            idx("idx_is_active", &["is_active"]),
            idx("idx_status", &["status"]),
            idx("idx_next_check_at", &["next_check_at"]),
        ],
        foreign_keys: &[fk("fk_monitors_user", "user_id", "users")],
    },
    // 2.4.2
    Table {
        name: "alerts",
        section: "2.4.2",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("name", "varchar(100)"),
            nn(
                "alert_type",
                "enum('certificate_expiry','server_down','certificate_error')",
            ),
            opt("monitor_id", BIGINT),
            nn(
                "condition_type",
                "enum('days_before','status_change','value_threshold')",
            ),
            nn("condition_value", "varchar(50)"),
            nn_d("severity", "enum('info','warning','error','critical')", "'warning'"),
            nn_d("is_active", BOOLEAN, "1"),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_alert_type", &["alert_type"]),
            idx("idx_is_active", &["is_active"]),
        ],
        foreign_keys: &[
            fk("fk_alerts_user", "user_id", "users"),
            fk("fk_alerts_monitor", "monitor_id", "monitors"),
        ],
    },
    // 2.4.3
    Table {
        name: "alert_channels",
        section: "2.4.3",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("name", "varchar(100)"),
            nn("channel_type", "enum('email','sms','webhook','wechat','slack')"),
            nn("config", JSON),
            nn_d("is_active", BOOLEAN, "1"),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_channel_type", &["channel_type"]),
            idx("idx_is_active", &["is_active"]),
        ],
        foreign_keys: &[fk("fk_alert_channels_user", "user_id", "users")],
    },
    // 2.4.4
    Table {
        name: "alert_channel_bindings",
        section: "2.4.4",
        columns: &[id(), nn("alert_id", BIGINT), nn("channel_id", BIGINT), created_at()],
        indexes: &[primary(), uniq("idx_alert_channel", &["alert_id", "channel_id"])],
        foreign_keys: &[
            fk("fk_bindings_alert", "alert_id", "alerts"),
            fk("fk_bindings_channel", "channel_id", "alert_channels"),
        ],
    },
    // 2.4.5
    Table {
        name: "alert_history",
        section: "2.4.5",
        columns: &[
            id(),
            nn("alert_id", BIGINT),
            nn("monitor_id", BIGINT),
            nn("severity", "enum('info','warning','error','critical')"),
            nn("message", TEXT),
            opt("data", JSON),
            nn_d("is_resolved", BOOLEAN, "0"),
            opt("resolved_at", DATETIME),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_severity", &["severity"]),
            idx("idx_is_resolved", &["is_resolved"]),
            idx("idx_created_at", &["created_at"]),
        ],
        foreign_keys: &[
            fk("fk_history_alert", "alert_id", "alerts"),
            fk("fk_history_monitor", "monitor_id", "monitors"),
        ],
    },
    // 2.5.1
    Table {
        name: "tasks",
        section: "2.5.1",
        columns: &[
            id(),
            nn(
                "task_type",
                "enum('certificate_issue','certificate_renew','certificate_deploy','server_check','monitor_check')",
            ),
            nn_d(
                "status",
                "enum('pending','running','completed','failed','cancelled')",
                "'pending'",
            ),
            nn_d("priority", INT, "5"),
            opt("target_type", "varchar(50)"),
            opt("target_id", BIGINT),
            opt("params", JSON),
            opt("result", JSON),
            opt("error_message", TEXT),
            nn_d("progress", INT, "0"),
            nn("scheduled_at", DATETIME),
            opt("started_at", DATETIME),
            opt("completed_at", DATETIME),
            opt("created_by", BIGINT),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_task_type", &["task_type"]),
            idx("idx_status", &["status"]),
            idx("idx_priority", &["priority"]),
            idx("idx_target", &["target_type", "target_id"]),
            idx("idx_scheduled_at", &["scheduled_at"]),
        ],
        foreign_keys: &[fk("fk_tasks_user", "created_by", "users")],
    },
    // 2.5.2
    Table {
        name: "task_logs",
        section: "2.5.2",
        columns: &[
            id(),
            nn("task_id", BIGINT),
            nn_d("log_level", "enum('debug','info','warning','error')", "'info'"),
            nn("message", TEXT),
            opt("data", JSON),
            created_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_log_level", &["log_level"]),
            idx("idx_created_at", &["created_at"]),
        ],
        foreign_keys: &[fk("fk_task_logs_task", "task_id", "tasks")],
    },
    // 2.5.3
    Table {
        name: "scheduled_tasks",
        section: "2.5.3",
        columns: &[
            id(),
            nn("name", "varchar(100)"),
            nn(
                "task_type",
                "enum('certificate_check','server_check','backup','cleanup')",
            ),
            nn("cron_expression", "varchar(100)"),
            opt("params", JSON),
            nn_d("is_active", BOOLEAN, "1"),
            opt("last_run_at", DATETIME),
            opt("next_run_at", DATETIME),
            opt("created_by", BIGINT),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_task_type", &["task_type"]),
            idx("idx_is_active", &["is_active"]),
            idx("idx_next_run_at", &["next_run_at"]),
        ],
        foreign_keys: &[fk("fk_scheduled_tasks_user", "created_by", "users")],
    },
    // 2.6.1
    Table {
        name: "settings",
        section: "2.6.1",
        columns: &[
            id(),
            nn("setting_key", "varchar(100)"),
            opt("setting_value", TEXT),
            nn_d("setting_type", "enum('string','number','boolean','json')", "'string'"),
            opt("description", "varchar(255)"),
            nn_d("is_system", BOOLEAN, "0"),
            created_at(),
            updated_at(),
        ],
        indexes: &[
            primary(),
            uniq("idx_setting_key", &["setting_key"]),
            idx("idx_is_system", &["is_system"]),
        ],
        foreign_keys: &[],
    },
    // 2.6.2
    Table {
        name: "user_settings",
        section: "2.6.2",
        columns: &[
            id(),
            nn("user_id", BIGINT),
            nn("setting_key", "varchar(100)"),
            opt("setting_value", TEXT),
            nn_d("setting_type", "enum('string','number','boolean','json')", "'string'"),
            created_at(),
            updated_at(),
        ],
        indexes: &[primary(), uniq("idx_user_setting", &["user_id", "setting_key"])],
        foreign_keys: &[fk("fk_user_settings_user", "user_id", "users")],
    },
    // 2.6.3
    Table {
        name: "audit_logs",
        section: "2.6.3",
        columns: &[
            id(),
            opt("user_id", BIGINT),
            nn("action", "varchar(100)"),
            opt("resource_type", "varchar(50)"),
            opt("resource_id", BIGINT),
            opt("details", JSON),
            opt("ip_address", "varchar(45)"),
            opt("user_agent", "varchar(255)"),
            created_at(),
        ],
        indexes: &[
            primary(),
            idx("idx_action", &["action"]),
            idx("idx_resource", &["resource_type", "resource_id"]),
            idx("idx_created_at", &["created_at"]),
        ],
        foreign_keys: &[fk("fk_audit_logs_user", "user_id", "users")],
    },
];

// ======================= Allowed additions (certdeck's own) =======================

/// Tables certdeck adds; their contents are not held to the design.
pub const EXTRA_TABLES: &[&str] = &[
    "certdeck_meta",
    "certdeck_schema_history",
    // V8: the task queue's target locks and scheduler heartbeats.
    "task_target_locks",
    "certdeck_schedulers",
    // V10: sites discovered in the web server configs.
    "server_sites",
    // V11: ACME.
    "acme_cas",
    "acme_accounts",
    "dns_providers",
    "certificate_issuance",
    // V14: the notification outbox.
    "alert_deliveries",
    // V19: the pull agent.
    "server_agents",
    "agent_challenges",
];

/// Columns certdeck adds to design tables (V7), with their expected definition.
pub const EXTRA_COLUMNS: &[(&str, Column)] = &[
    ("users", nn_d("failed_login_count", INT, "0")),
    // V8: the task queue.
    ("tasks", nn_d("attempts", INT, "0")),
    ("tasks", nn_d("max_attempts", INT, "5")),
    ("tasks", opt("locked_by", "varchar(100)")),
    ("tasks", nn_d("lease_generation", BIGINT, "0")),
    ("tasks", opt("lease_expires_at", DATETIME)),
    ("tasks", opt("last_heartbeat_at", DATETIME)),
    // V10: SSH deploy.
    ("servers", opt("key_passphrase_encrypted", "varchar(255)")),
    ("servers", opt("host_key_fingerprint", "varchar(100)")),
    ("servers", opt("jump_server_id", BIGINT)),
    ("servers", nn_d("privilege_mode", "enum('none','sudo')", "'none'")),
    ("servers", opt("test_command", "varchar(500)")),
    ("servers", opt("reload_command", "varchar(500)")),
    ("servers", opt("verify_port", INT)),
    ("servers", opt("config_root", "varchar(255)")),
    ("certificate_deployments", opt("key_path", "varchar(255)")),
    ("certificate_deployments", opt("verify_host", "varchar(255)")),
    ("certificate_deployments", opt("verify_sni", "varchar(255)")),
    ("certificate_deployments", opt("verify_port", INT)),
    ("certificate_deployments", opt("deployed_serial", "varchar(100)")),
    ("server_configs", opt("note", "varchar(255)")),
    // V14: monitoring and alerting.
    ("monitors", opt("connect_address", "varchar(255)")),
    ("monitors", opt("trust_bundle_pem", TEXT)),
    ("monitors", nn_d("consecutive_failures", INT, "0")),
    ("monitors", opt("last_result", JSON)),
    ("alert_history", opt("acknowledged_at", DATETIME)),
    ("alert_history", opt("acknowledged_by", BIGINT)),
    ("alert_history", opt("last_notified_at", DATETIME)),
    // V16: one-time passwords.
    ("users", nn_d("must_change_password", BOOLEAN, "0")),
    // V18: what an API key may do.
    ("api_keys", nn_d("permissions", "varchar(16)", "'read-write'")),
];

/// Indexes certdeck adds to design tables, with their expected definition.
pub const EXTRA_INDEXES: &[(&str, Index)] = &[
    // V7: list filters.
    ("user_tokens", idx("idx_token_hash", &["token_hash"])),
    ("certificates", idx("idx_status_expires", &["status", "expires_at"])),
    (
        "certificates",
        idx("idx_user_status_expires", &["user_id", "status", "expires_at"]),
    ),
    ("certificates", idx("idx_user_expires", &["user_id", "expires_at"])),
    ("audit_logs", idx("idx_user_created", &["user_id", "created_at"])),
    ("audit_logs", idx("idx_user_action", &["user_id", "action"])),
    ("servers", idx("idx_user_status", &["user_id", "status"])),
    // V8: claim order and lease expiry.
    ("tasks", idx("idx_claim", &["status", "priority", "scheduled_at"])),
    ("tasks", idx("idx_lease", &["status", "lease_expires_at"])),
    // V9: the console's change polling.
    ("certificates", idx("idx_updated_at", &["updated_at"])),
    ("servers", idx("idx_updated_at", &["updated_at"])),
    ("monitors", idx("idx_updated_at", &["updated_at"])),
    ("tasks", idx("idx_updated_at", &["updated_at"])),
    ("alert_history", idx("idx_updated_at", &["updated_at"])),
    // V10: one server_configs row per file.
    ("server_configs", uniq("idx_server_path", &["server_id", "config_path"])),
    // V14: the open alert of a (rule, monitor).
    (
        "alert_history",
        idx("idx_alert_monitor_open", &["alert_id", "monitor_id", "is_resolved"]),
    ),
    // FK-backing indexes, named after the constraint: one for every design foreign key whose
    // column no design index starts with (worked out by hand from the tables above). FKs that ARE
    // covered get none: fk_mappings_server (idx_server_group), fk_deployments_certificate
    // (idx_cert_server), fk_bindings_alert (idx_alert_channel), fk_user_settings_user
    // (idx_user_setting).
    ("api_keys", idx("fk_api_keys_user", &["user_id"])),
    ("user_tokens", idx("fk_user_tokens_user", &["user_id"])),
    ("servers", idx("fk_servers_user", &["user_id"])),
    ("server_configs", idx("fk_server_configs_server", &["server_id"])),
    ("server_groups", idx("fk_server_groups_user", &["user_id"])),
    ("server_group_mappings", idx("fk_mappings_group", &["group_id"])),
    ("certificates", idx("fk_certificates_user", &["user_id"])),
    ("certificate_deployments", idx("fk_deployments_server", &["server_id"])),
    (
        "dns_challenges",
        idx("fk_dns_challenges_certificate", &["certificate_id"]),
    ),
    ("monitors", idx("fk_monitors_user", &["user_id"])),
    ("alerts", idx("fk_alerts_user", &["user_id"])),
    ("alerts", idx("fk_alerts_monitor", &["monitor_id"])),
    ("alert_channels", idx("fk_alert_channels_user", &["user_id"])),
    ("alert_channel_bindings", idx("fk_bindings_channel", &["channel_id"])),
    ("alert_history", idx("fk_history_alert", &["alert_id"])),
    ("alert_history", idx("fk_history_monitor", &["monitor_id"])),
    ("tasks", idx("fk_tasks_user", &["created_by"])),
    ("task_logs", idx("fk_task_logs_task", &["task_id"])),
    ("scheduled_tasks", idx("fk_scheduled_tasks_user", &["created_by"])),
    ("audit_logs", idx("fk_audit_logs_user", &["user_id"])),
];

/// A design table by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The allowed extra column `table.column`, if listed.
pub fn extra_column(table: &str, column: &str) -> Option<&'static Column> {
    EXTRA_COLUMNS
        .iter()
        .find(|(t, c)| *t == table && c.name == column)
        .map(|(_, c)| c)
}

/// The allowed extra index `table.name`, if listed.
pub fn extra_index(table: &str, name: &str) -> Option<&'static Index> {
    EXTRA_INDEXES
        .iter()
        .find(|(t, i)| *t == table && i.name == name)
        .map(|(_, i)| i)
}

/// Sanity checks of the transcription itself (run by both schema tests).
pub fn self_check() {
    assert_eq!(TABLES.len(), 21, "the design has 21 tables");
    for t in TABLES {
        assert_eq!(t.columns[0].name, "id", "{}: id first", t.name);
        assert_eq!(t.indexes[0].name, "PRIMARY", "{}: primary key first", t.name);
        for i in t.indexes {
            for c in i.columns {
                assert!(
                    t.column(c).is_some(),
                    "{}.{}: indexed column {c} not in the table",
                    t.name,
                    i.name
                );
            }
        }
        for f in t.foreign_keys {
            assert!(
                t.column(f.column).is_some(),
                "{}.{}: FK column not in the table",
                t.name,
                f.name
            );
            assert!(
                table(f.ref_table).is_some(),
                "{}.{}: FK target not a design table",
                t.name,
                f.name
            );
        }
    }
    for (t, c) in EXTRA_COLUMNS {
        let tab = table(t).unwrap_or_else(|| panic!("extra column {t}.{} on unknown table", c.name));
        assert!(
            tab.column(c.name).is_none(),
            "extra column {t}.{} is a design column",
            c.name
        );
    }
    for (t, i) in EXTRA_INDEXES {
        let tab = table(t).unwrap_or_else(|| panic!("extra index on unknown table {t}"));
        for c in i.columns {
            assert!(
                tab.column(c).is_some() || extra_column(t, c).is_some(),
                "extra index {t}.{}: column {c} unknown",
                i.name
            );
        }
    }
}
