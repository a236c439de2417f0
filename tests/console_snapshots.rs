//! Snapshots of every console screen at 80×24 and 160×48, in English and in Chinese: the real
//! `update`, effect runner and drawing over a seeded SQLite database, rendered to ratatui's
//! `TestBackend`. Times, random keys and the clock are filtered out of the snapshots.

mod common;

use certdeck::domain::{
    AlertType, ApiKeyPermissions, AuthType, ChannelType, ConditionType, MonitorType, ServerStatus, ServerType,
    SettingType, TaskType,
};
use certdeck::service::certificates::{CertChanges, ImportInput};
use certdeck::service::monitoring::{AlertInput, MonitorInput};
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::TaskInput;
use certdeck::tui::action::Action;
use certdeck::tui::effects::{Effect, Reply};
use certdeck::tui::exec::{Runner, SessionPlace};
use certdeck::tui::i18n::{Catalog, Lang};
use certdeck::tui::keymap::Keymap;
use certdeck::tui::resources::Kind;
use certdeck::tui::state::{Confirm, Mode, State};
use certdeck::tui::theme::Theme;
use certdeck::tui::update::{start, update, Msg};
use chrono::{Duration, Utc};
use common::World;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

struct Console {
    s: State,
    runner: Runner,
    _dir: tempfile::TempDir,
}

fn self_signed(domains: &[&str], days: i64) -> ImportInput {
    let kp = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(domains.iter().map(|d| d.to_string()).collect::<Vec<_>>()).expect("params");
    let until = Utc::now() + Duration::days(days);
    params.not_after = rcgen::date_time_ymd(
        until.format("%Y").to_string().parse().unwrap(),
        until.format("%m").to_string().parse().unwrap(),
        until.format("%d").to_string().parse().unwrap(),
    );
    let cert = params.self_signed(&kp).expect("self-sign");
    ImportInput {
        certificate: cert.pem().into_bytes(),
        private_key: kp.serialize_pem().into_bytes(),
        ..Default::default()
    }
}

/// Seeds one of everything the panes show.
async fn seed(w: &World) {
    let (s, a) = (&w.s, &w.admin);
    let shop = s
        .cert_import(a, &self_signed(&["shop.example.com", "www.shop.example.com"], 400))
        .await
        .unwrap();
    s.cert_update(
        a,
        shop.id,
        &CertChanges {
            name: Some("生产证书 shop".into()),
            notes: Some("renewed by hand last year".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.cert_import(a, &self_signed(&["*.example.org"], 200)).await.unwrap();
    let api = s.cert_import(a, &self_signed(&["api.example.net"], 10)).await.unwrap();
    let web = s
        .server_create(
            a,
            &ServerInput {
                name: Some("web-1".into()),
                hostname: Some("web1.example.com".into()),
                server_type: Some(ServerType::Nginx),
                username: Some("deploy".into()),
                password: Some("ssh-pass".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.server_create(
        a,
        &ServerInput {
            name: Some("杭州节点".into()),
            hostname: Some("10.0.0.7".into()),
            server_type: Some(ServerType::Apache),
            username: Some("root".into()),
            password: Some("ssh-pass-2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let g = s
        .group_create(a, "frontends", Some("public web servers"))
        .await
        .unwrap();
    s.group_add_server(a, g.id, web.id).await.unwrap();
    let dep = s
        .deployment_create(
            a,
            api.id,
            web.id,
            "/etc/nginx/ssl/api.pem",
            Some("/etc/nginx/conf.d/api.conf"),
            true,
        )
        .await
        .unwrap();
    // What a check and a failed deploy leave behind (no SSH here: written as the engines would).
    common::exec_with(
        s.db(),
        "UPDATE servers SET host_key_fingerprint = ?, privilege_mode = 'sudo' WHERE id = ?",
        ("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", web.id),
    )
    .await;
    certdeck::store::certificates::set_deployment_outcome(
        s.db(),
        dep.id,
        certdeck::domain::DeploymentStatus::Failed,
        Some("config test failed: nginx: [emerg] cannot load certificate key — rolled back"),
        None,
    )
    .await
    .unwrap();
    let site =
        |names: &str, tls: bool, cert: Option<&str>, subject: Option<&str>| certdeck::store::discovery::SiteRow {
            server_id: web.id,
            config_path: "/etc/nginx/sites-enabled/default".into(),
            line: 1,
            server_names: serde_json::to_string(&names.split(' ').collect::<Vec<_>>()).unwrap(),
            listen: Some(if tls { "443 ssl" } else { "80" }.into()),
            port: Some(if tls { 443 } else { 80 }),
            tls,
            cert_path: cert.map(str::to_string),
            cert_subject: subject.map(str::to_string),
            cert_serial: subject.map(|_| "3f9a11".to_string()),
            cert_not_after: subject.map(|_| Utc::now() + Duration::days(40)),
            certificate_id: subject.map(|_| api.id),
            discovered_at: Utc::now(),
            ..Default::default()
        };
    certdeck::store::discovery::save_discovery(
        s.db(),
        web.id,
        &[],
        &[
            site(
                "api.example.net www.api.example.net",
                true,
                Some("/etc/nginx/ssl/api.pem"),
                Some("api.example.net"),
            ),
            site("static.example.net", false, None, None),
        ],
    )
    .await
    .unwrap();
    s.monitor_create(
        a,
        &MonitorInput {
            name: Some("shop https".into()),
            monitor_type: Some(MonitorType::Domain),
            domain: Some("shop.example.com".into()),
            port: Some(443),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rule = s
        .alert_create(
            a,
            &AlertInput {
                name: Some("expiry in 14 days".into()),
                alert_type: Some(AlertType::CertificateExpiry),
                condition_type: Some(ConditionType::DaysBefore),
                condition_value: Some("14".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ch = s
        .channel_create(
            a,
            "ops webhook",
            ChannelType::Webhook,
            &serde_json::json!({"url": "https://hooks.example.com/certdeck", "secret": "hmac-key"}),
        )
        .await
        .unwrap();
    s.binding_create(a, rule.id, ch.id).await.unwrap();
    s.task_enqueue(
        a,
        &TaskInput {
            task_type: Some(TaskType::MonitorCheck),
            target_type: Some("monitor".into()),
            target_id: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A second task runs once on a worker without that engine: it fails, with its log.
    s.task_enqueue(
        a,
        &TaskInput {
            task_type: Some(TaskType::ServerCheck),
            target_type: Some("server".into()),
            target_id: Some(web.id),
            priority: Some(10),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ran = certdeck::service::tasks::step(
        s,
        "snapshot-worker",
        &certdeck::service::tasks::Runners::default(),
        &certdeck::service::tasks::ExecSettings::default(),
    )
    .await
    .unwrap();
    assert!(ran.is_some(), "the server check ran");
    s.user_setting_set(a, "timezone", "UTC", SettingType::String)
        .await
        .unwrap();
    s.apikey_create(a, "ci deploys", Some(90), ApiKeyPermissions::ReadWrite, None)
        .await
        .unwrap();
}

async fn console(w: &World, lang: Lang) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let runner = Runner::new(
        w.s.clone(),
        SessionPlace {
            config_dir: dir.path().to_path_buf(),
            db_key: "test".into(),
        },
        None,
        tx,
    );
    let (km, _) = Keymap::load("default", None);
    let s = State::new(Catalog::load(lang), km, chrono_tz::UTC, false, Utc::now());
    Console { s, runner, _dir: dir }
}

impl Console {
    async fn settle(&mut self, fx: Vec<Effect>) {
        let mut queue = fx;
        let mut guard = 0;
        while let Some(e) = queue.pop() {
            guard += 1;
            assert!(guard < 500, "effects do not settle");
            let (req, reply) = self.runner.run(e, self.s.actor.clone()).await;
            queue.extend(update(&mut self.s, Msg::Reply(req, reply)));
        }
    }

    async fn send(&mut self, msg: Msg) {
        let fx = update(&mut self.s, msg);
        self.settle(fx).await;
    }

    async fn key(&mut self, c: KeyCode) {
        self.send(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))).await;
    }

    async fn ctrl(&mut self, c: char) {
        self.send(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)))
            .await;
    }

    async fn typed(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c)).await;
        }
    }

    async fn command(&mut self, cmd: &str) {
        self.key(KeyCode::Char(':')).await;
        self.typed(cmd).await;
        self.key(KeyCode::Enter).await;
    }

    async fn logged_in(&mut self, w: &World) {
        let fx = start(&mut self.s);
        let Effect::Resume { req } = fx[0] else {
            panic!("{fx:?}")
        };
        self.send(Msg::Reply(req, Reply::LoggedIn(w.admin.clone()))).await;
    }

    fn render(&mut self, w: u16, h: u16) -> String {
        self.s.size = (w, h);
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| certdeck::tui::ui::draw(f, &self.s, &Theme::plain()))
            .unwrap();
        t.backend().to_string()
    }
}

fn check(name: &str, screen: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/console");
    settings.set_prepend_module_to_snapshot(false);
    for (re, with) in [
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "[time]"),
        (r"(in )?\d+ (min|h|d)( ago)?", "[rel]"),
        (r"\d+ (分钟|小时|天)(后|前)", "[rel]"),
        // "now" / "刚刚" turns into "1 min ago" on a slow run.
        (r"\bnow\b|刚刚", "[rel]"),
        (r"cdk_[A-Za-z0-9_…]+(:[A-Za-z0-9_\-]+)?", "[key]"),
    ] {
        settings.add_filter(re, with);
    }
    settings.bind(|| insta::assert_snapshot!(name.to_string(), screen));
}

/// Renders the current screen at both sizes.
fn both_sizes(c: &mut Console, name: &str, lang: Lang) {
    let l = match lang {
        Lang::En => "en",
        Lang::ZhCn => "zh",
    };
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = c.render(w, h);
        check(&format!("{name}_{l}_{w}x{h}"), &screen);
    }
}

async fn every_screen(lang: Lang) {
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    seed(&w).await;

    // Login screen, then a refused login.
    let mut c = console(&w, lang).await;
    c.s.login_user = Some("admin".into());
    let fx = start(&mut c.s);
    let Effect::Resume { req } = fx[0] else { panic!() };
    c.send(Msg::Reply(req, Reply::NeedLogin(None))).await;
    both_sizes(&mut c, "login", lang);
    c.typed("wrong password").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "login_refused", lang);

    let mut c = console(&w, lang).await;
    c.logged_in(&w).await;
    both_sizes(&mut c, "dashboard", lang);
    for pane in [
        "certs",
        "srv",
        "groups",
        "mon",
        "alerts",
        "history",
        "channels",
        "tasks",
        "schedules",
        "settings",
        "prefs",
        "users",
        "apikeys",
        "audit",
    ] {
        c.command(pane).await;
        both_sizes(&mut c, &format!("pane_{pane}"), lang);
    }
    // Details: a certificate (each tab), a server, a task with its log.
    c.command("certs").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "detail_certificate", lang);
    c.key(KeyCode::Tab).await;
    both_sizes(&mut c, "detail_certificate_deployments", lang);
    c.command("srv").await;
    c.key(KeyCode::Char('j')).await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "detail_server", lang);
    c.key(KeyCode::Tab).await;
    both_sizes(&mut c, "detail_server_sites", lang);
    // Bind a managed certificate to the selected site: a one-field form.
    c.key(KeyCode::Char('b')).await;
    both_sizes(&mut c, "form_site_bind", lang);
    c.typed("1").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "site_bound", lang);
    c.s.flash = None;
    // The host key to trust (shown before anything is stored; the fetch itself needs SSH).
    c.s.mode = Mode::Confirm(Confirm {
        action: Action::TrustHostKey,
        kind: Kind::Servers,
        id: 1,
        label: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU — CHANGED, was SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8".into(),
        link: None,
        arg: Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into()),
    });
    both_sizes(&mut c, "confirm_hostkey", lang);
    c.key(KeyCode::Esc).await;
    c.s.flash = None;
    // The import report.
    c.s.mode = Mode::Reveal(
        "report.import",
        certdeck::tui::effects::Redacted(
            "   1  bastion              + server #3\n   7  web9                 - ProxyJump nowhere: no server entry of that name".into(),
        ),
    );
    both_sizes(&mut c, "report_import", lang);
    c.key(KeyCode::Esc).await;
    c.s.flash = None;
    c.command("tasks").await;
    c.key(KeyCode::Enter).await;
    c.key(KeyCode::Tab).await;
    both_sizes(&mut c, "detail_task_log", lang);
    // A form with an inline error from the service layer.
    c.command("srv").await;
    c.key(KeyCode::Char('n')).await;
    both_sizes(&mut c, "form_server", lang);
    c.key(KeyCode::Tab).await;
    c.typed("not a host!").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "form_server_error", lang);
    c.key(KeyCode::Esc).await;
    // Confirm before a delete.
    c.ctrl('d').await;
    both_sizes(&mut c, "confirm_delete", lang);
    c.key(KeyCode::Esc).await;
    // Filter line and its result.
    c.key(KeyCode::Char('/')).await;
    c.typed("杭州").await;
    both_sizes(&mut c, "filter_typing", lang);
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "filter_applied", lang);
    // Command completion and help.
    c.key(KeyCode::Char(':')).await;
    c.typed("s").await;
    both_sizes(&mut c, "command_completion", lang);
    c.key(KeyCode::Esc).await;
    c.key(KeyCode::Char('?')).await;
    both_sizes(&mut c, "help", lang);
    c.key(KeyCode::Esc).await;
    // A secret shown once.
    c.command("apikeys").await;
    c.key(KeyCode::Char('n')).await;
    c.typed("release bot").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "reveal_apikey", lang);
    c.key(KeyCode::Esc).await;
    // Request a certificate from an ACME CA: the form, a refusal under its field, then a request.
    w.s.dns_provider_add_rfc2136(
        &w.admin,
        "corp-dns",
        &certdeck::service::acme::Rfc2136Settings {
            server: "192.0.2.53:53".into(),
            zone: "example.net".into(),
            key_name: "acme-key".into(),
            algorithm: "hmac-sha256".into(),
        },
        "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
    )
    .await
    .unwrap();
    c.command("certs").await;
    c.s.flash = None;
    c.key(KeyCode::Char('N')).await;
    both_sizes(&mut c, "form_cert_request", lang);
    c.typed("*.example.net").await;
    c.key(KeyCode::Tab).await;
    c.key(KeyCode::Tab).await;
    c.key(KeyCode::Tab).await;
    c.key(KeyCode::Tab).await;
    c.key(KeyCode::Right).await; // http-01
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "form_cert_request_refused", lang);
    c.key(KeyCode::Left).await; // back to dns-01
    c.key(KeyCode::Tab).await;
    c.typed("1").await;
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "cert_requested", lang);
    // Too small.
    let small = c.render(60, 20);
    check(
        &format!("too_small_{}", if lang == Lang::En { "en" } else { "zh" }),
        &small,
    );
}

#[tokio::test]
async fn every_screen_in_english() {
    every_screen(Lang::En).await;
}

#[tokio::test]
async fn every_screen_in_chinese() {
    every_screen(Lang::ZhCn).await;
}

/// Token servers: one whose agent checked in an hour ago (every 300 s: silent, the server
/// `error` as its monitor left it) and one whose agent never checked in, beside an SSH server.
/// The list shows a token server's last check-in where an SSH server shows its last check; the
/// detail shows the agent's facts and `silent`.
async fn token_server_screens(lang: Lang) {
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    let (s, a) = (&w.s, &w.admin);
    s.user_setting_set(a, "timezone", "UTC", SettingType::String)
        .await
        .unwrap();
    s.server_create(
        a,
        &ServerInput {
            name: Some("web-1".into()),
            hostname: Some("web1.example.com".into()),
            username: Some("deploy".into()),
            password: Some("ssh-pass".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = |name: &str, host: &str| ServerInput {
        name: Some(name.into()),
        hostname: Some(host.into()),
        server_type: Some(ServerType::Apache),
        auth_type: Some(AuthType::Token),
        token: Some(format!("agent-token-{name}-0123456789")),
        ..Default::default()
    };
    s.server_create(a, &token("edge-new", "edge2.example.com"))
        .await
        .unwrap();
    let edge = s
        .server_create(a, &token("edge-agent", "edge1.example.com"))
        .await
        .unwrap();
    certdeck::store::agents::record_checkin(s.db(), edge.id, "0.4.0", 300, Some("198.51.100.7"))
        .await
        .unwrap();
    certdeck::store::discovery::record_check(s.db(), edge.id, ServerStatus::Active, None)
        .await
        .unwrap();
    let hour_ago = (Utc::now() - Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    common::exec_with(
        s.db(),
        "UPDATE server_agents SET last_checkin_at = ? WHERE server_id = ?",
        (hour_ago.as_str(), edge.id),
    )
    .await;
    common::exec_with(
        s.db(),
        "UPDATE servers SET last_check_at = ?, status = 'error' WHERE id = ?",
        (hour_ago.as_str(), edge.id),
    )
    .await;

    let mut c = console(&w, lang).await;
    c.logged_in(&w).await;
    c.command("srv").await;
    both_sizes(&mut c, "pane_srv_agents", lang);
    c.key(KeyCode::Enter).await;
    both_sizes(&mut c, "detail_server_agent", lang);
    // "silent" in the error tone (the plain theme of the snapshots has no colours).
    let certdeck::tui::state::View::Detail(d) = c.s.view() else {
        panic!("a detail")
    };
    let tab = &d.data.as_ref().expect("loaded").tabs[0];
    let certdeck::tui::model::Body::Fields(fields) = &tab.body else {
        panic!("the overview")
    };
    let agent = fields.iter().find(|(k, _)| k == "field.agent").map(|(_, c)| c);
    assert_eq!(
        agent,
        Some(&certdeck::tui::model::Cell::Status(
            "silent".into(),
            certdeck::tui::theme::Tone::Error
        ))
    );
}

#[tokio::test]
async fn token_servers_show_their_agent_in_english() {
    token_server_screens(Lang::En).await;
}

#[tokio::test]
async fn token_servers_show_their_agent_in_chinese() {
    token_server_screens(Lang::ZhCn).await;
}
