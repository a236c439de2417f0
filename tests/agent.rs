//! The pull agent end to end on the bed: a real `certdeck --serve-api` process (SQLite and
//! MariaDB) and real `certdeck agent` processes on the bed's nginx and Apache (their own config
//! roots): enroll, discover, deploy a new certificate and see it served, a broken nginx config
//! rolled back and reported, a token that authorizes only its own server, a rotated token
//! refused at once, and `kill -9` of the agent at each step of an install.
//!
//! The tests reload the bed's shared nginx and Apache: nextest runs them in the `webservers`
//! group (one at a time with the other web server tests).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::api::{self_signed, ApiServer};
use common::bed::{bed, pair_matches, pem_serial, served_serial, wait_served, write_tls_site, Web};
use serde_json::Value;

/// An agent installation: its own home (logs) and config file.
struct AgentHome {
    dir: tempfile::TempDir,
}

impl AgentHome {
    fn new() -> AgentHome {
        AgentHome {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("etc/agent.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
        cmd.args(args)
            .env("CERTDECK_DATA_DIR", self.dir.path().join("data"))
            .env("CERTDECK_CONFIG_DIR", self.dir.path().join("config"))
            .env_remove("CERTDECK_DATABASE_URL")
            .env_remove("CERTDECK_MASTER_KEY")
            .env_remove("CERTDECK_API_KEY")
            .env("CERTDECK_DEPLOY_VERIFY_TIMEOUT", "10");
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        common::cli::output(&mut self.command(args), stdin)
    }

    fn enroll(&self, api: &ApiServer, token: &str, web: &Web) -> Output {
        let cfg = self.config();
        self.run(
            &[
                "agent",
                "enroll",
                "--url",
                &api.base,
                "--ca",
                api.ca_path.to_str().unwrap(),
                "--token-stdin",
                "--interval",
                "5",
                "--allow-dir",
                web.certs.to_str().unwrap(),
                "--agent-config",
                cfg.to_str().unwrap(),
            ],
            Some(token),
        )
    }

    fn run_once(&self) -> Output {
        let cfg = self.config();
        self.run(
            &[
                "--json",
                "agent",
                "run",
                "--once",
                "--agent-config",
                cfg.to_str().unwrap(),
            ],
            None,
        )
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output, what: &str) -> Output {
    assert!(o.status.success(), "{what}: {}", text(&o));
    o
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A token server entry for the bed's web server (its own config root and commands).
fn add_token_server(api: &ApiServer, web: &Web, apache: bool, name: &str) -> i64 {
    let port = web.port.to_string();
    let o = ok(
        api.cli(
            &[
                "--json",
                "server",
                "add",
                "127.0.0.1",
                "--name",
                name,
                "--auth",
                "token",
                "--type",
                if apache { "apache" } else { "nginx" },
                "--config-root",
                &web.conf,
                "--test-command",
                &web.test_cmd,
                "--reload-command",
                &web.reload_cmd,
                "--verify-port",
                &port,
            ],
            None,
        ),
        "server add",
    );
    json_of(&o)["id"].as_i64().unwrap()
}

fn token_of(api: &ApiServer, server: i64, rotate: bool) -> String {
    let id = server.to_string();
    let mut args = vec!["server", "token", id.as_str()];
    if rotate {
        args.push("--rotate");
    }
    let o = ok(api.cli(&args, None), "server token");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A TLS site on the bed's web server serving a fresh self-signed certificate for `name`;
/// returns (config file, certificate path, key path, its PEM).
async fn site(web: &Web, apache: bool, name: &str) -> (PathBuf, PathBuf, PathBuf, String) {
    let stem = name.replace('.', "-");
    let cert = web.certs.join(format!("{stem}.crt"));
    let key = web.certs.join(format!("{stem}.key"));
    let (c, k) = self_signed(name);
    std::fs::write(&cert, &c).unwrap();
    std::fs::write(&key, &k).unwrap();
    let conf = write_tls_site(web, apache, name, &stem, &cert, &key);
    wait_served(web.port, name, &pem_serial(&c)).await;
    (conf, cert, key, c)
}

fn remove_site(web: &Web, conf: &Path, cert: &Path) {
    let _ = std::fs::remove_file(conf);
    if let (Some(dir), Some(stem)) = (cert.parent(), cert.file_stem()) {
        let stem = stem.to_string_lossy().to_string();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&stem) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("PATH=$PATH:/usr/sbin; {}", web.reload_cmd))
        .status();
}

/// Imports a new self-signed certificate for `name`; (id, PEM).
async fn new_cert(api: &ApiServer, name: &str) -> (i64, String) {
    let (c, k) = self_signed(name);
    let (code, v) = api
        .call(
            "POST",
            &api.admin,
            "/api/v1/certificates",
            Some(serde_json::json!({"certificate_pem": c, "private_key_pem": k})),
        )
        .await;
    assert_eq!(code, 201, "[{}] import: {v}", api.label);
    (v["id"].as_i64().unwrap(), c)
}

async fn deployment(api: &ApiServer, id: i64) -> Value {
    let (code, v) = api
        .call("GET", &api.admin, &format!("/api/v1/deployments/{id}"), None)
        .await;
    assert_eq!(code, 200, "[{}] deployment {id}: {v}", api.label);
    v
}

async fn server(api: &ApiServer, id: i64) -> Value {
    let (code, v) = api
        .call("GET", &api.admin, &format!("/api/v1/servers/{id}"), None)
        .await;
    assert_eq!(code, 200, "[{}] server {id}: {v}", api.label);
    v
}

/// Binds certificate `cert` to the server's paths (replacing a binding of the same files);
/// the new deployment's id.
fn bind(api: &ApiServer, cert: i64, server: i64, cert_path: &Path, key_path: &Path) -> i64 {
    let o = ok(
        api.cli(
            &[
                "--json",
                "deployment",
                "add",
                &cert.to_string(),
                &server.to_string(),
                "--path",
                cert_path.to_str().unwrap(),
                "--key-path",
                key_path.to_str().unwrap(),
                "--replace",
            ],
            None,
        ),
        "deployment add",
    );
    json_of(&o)["id"].as_i64().unwrap()
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Enroll, discover, deploy and verify, on one web server; returns what later steps use.
async fn enroll_discover_deploy(api: &ApiServer, web: &Web, apache: bool) -> Flow {
    let kind = if apache { "apache" } else { "nginx" };
    let name = format!("agent-{kind}-{}.test", rand_suffix());
    let (conf, cert_path, key_path, _old) = site(web, apache, &name).await;
    let sid = add_token_server(api, web, apache, &format!("agent-{kind}-{}", rand_suffix()));
    let token = token_of(api, sid, false);
    assert!(token.starts_with(&format!("cdt_{sid}_")), "token form: {token}");
    // Shown once: a second show is refused and says how to get a new one.
    let again = api.cli(&["server", "token", &sid.to_string()], None);
    assert!(!again.status.success(), "a second show must be refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--rotate"),
        "{}",
        text(&again)
    );

    let home = AgentHome::new();
    ok(home.enroll(api, &token, web), "enroll");
    assert_eq!(mode_of(&home.config()), 0o600, "agent.toml is private");
    let toml = std::fs::read_to_string(home.config()).unwrap();
    assert!(toml.contains(&api.base), "{toml}");

    // A run with no work: facts and discovery reach the server.
    let o = ok(home.run_once(), "agent run (discover)");
    let sum = json_of(&o);
    assert!(sum["sites"].as_u64().unwrap() >= 1, "[{}] {sum}", api.label);
    let s = server(api, sid).await;
    assert_eq!(s["status"], "active", "[{}] {s}", api.label);
    assert!(s["last_check_at"].is_string(), "{s}");
    assert!(
        s["web_server_version"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains(kind),
        "[{}] web server version: {s}",
        api.label
    );
    assert!(s["os_type"].is_string(), "{s}");
    let sites = ok(
        api.cli(&["--json", "server", "sites", &sid.to_string()], None),
        "server sites",
    );
    let sites = json_of(&sites);
    let found = sites
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["server_names"].as_str().unwrap_or("").contains(&name))
        .unwrap_or_else(|| panic!("[{}] the site {name} was discovered: {sites}", api.label));
    assert_eq!(found["cert_path"].as_str(), cert_path.to_str(), "{found}");

    // A new certificate bound to the site's paths: installed and served at the next run.
    let (cert_id, pem) = new_cert(api, &name).await;
    let dep = bind(api, cert_id, sid, &cert_path, &key_path);
    let o = ok(home.run_once(), "agent run (deploy)");
    assert_eq!(json_of(&o)["deployed"], 1, "{}", text(&o));
    assert_eq!(
        served_serial(web.port, &name).await,
        pem_serial(&pem),
        "[{}] served",
        api.label
    );
    assert!(pair_matches(&cert_path, &key_path));
    assert_eq!(mode_of(&key_path), 0o600, "the key keeps SSH deploy's mode");
    let d = deployment(api, dep).await;
    assert_eq!(d["status"], "deployed", "[{}] {d}", api.label);
    assert_eq!(d["deployed_serial"].as_str(), Some(pem_serial(&pem).as_str()), "{d}");
    assert!(d["last_deploy_at"].is_string(), "{d}");
    // The private key was read by the agent, audited with its address.
    let audits = api.audit_of("agent.material").await;
    assert!(
        audits.iter().any(|(_, ip, _)| ip.as_deref() == Some("127.0.0.1")),
        "[{}] {audits:?}",
        api.label
    );
    Flow {
        home,
        sid,
        token,
        name,
        conf,
        cert_path,
        key_path,
        cert_id,
        dep,
        served: pem,
    }
}

struct Flow {
    home: AgentHome,
    sid: i64,
    token: String,
    name: String,
    conf: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_id: i64,
    dep: i64,
    served: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_enrolls_discovers_deploys_rolls_back_and_its_rotated_token_is_refused() {
    let Some(b) = bed() else { return };
    for api in ApiServer::both(&[]).await {
        // Apache: enroll, discover, deploy, verify.
        let f = enroll_discover_deploy(&api, &b.apache, true).await;
        remove_site(&b.apache, &f.conf, &f.cert_path);

        // nginx: the same, then a broken config rolled back and reported.
        let f = enroll_discover_deploy(&api, &b.nginx, false).await;
        let broken = b.nginx.sites.join(format!("broken-{}.conf", rand_suffix()));
        std::fs::write(&broken, "this is not an nginx directive;\n").unwrap();
        let (next_id, _next) = new_cert(&api, &f.name).await;
        bind(&api, next_id, f.sid, &f.cert_path, &f.key_path);
        let o = f.home.run_once();
        assert!(!o.status.success(), "a failed install exits non-zero: {}", text(&o));
        let _ = std::fs::remove_file(&broken);
        let deps = json_of(&ok(
            api.cli(&["--json", "deployment", "list", "--server", &f.sid.to_string()], None),
            "deployment list",
        ));
        let failed = deps
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["certificate_id"] == next_id)
            .unwrap_or_else(|| panic!("{deps}"))
            .clone();
        assert_eq!(failed["status"], "failed", "[{}] {failed}", api.label);
        let err = failed["error_message"].as_str().unwrap_or("");
        assert!(
            err.contains("config test failed") && err.contains("rolled back"),
            "[{}] {err}",
            api.label
        );
        assert_eq!(
            served_serial(b.nginx.port, &f.name).await,
            pem_serial(&f.served),
            "[{}] the old certificate is served again",
            api.label
        );
        assert!(pair_matches(&f.cert_path, &f.key_path));

        // A token authorizes exactly its server: another server's deployment is a 404.
        let other = add_token_server(&api, &b.nginx, false, &format!("other-{}", rand_suffix()));
        let o = ok(
            api.cli(
                &[
                    "--json",
                    "deployment",
                    "add",
                    &f.cert_id.to_string(),
                    &other.to_string(),
                    "--path",
                    "/etc/ssl/other.crt",
                ],
                None,
            ),
            "deployment add (other)",
        );
        let other_dep = json_of(&o)["id"].as_i64().unwrap();
        let (code, _) = api
            .call(
                "GET",
                &f.token,
                &format!("/api/v1/agent/deployments/{other_dep}/material"),
                None,
            )
            .await;
        assert_eq!(code, 404, "[{}] another server's deployment", api.label);
        let (code, _) = api
            .call(
                "GET",
                &f.token,
                &format!("/api/v1/agent/deployments/{}/material", failed["id"]),
                None,
            )
            .await;
        assert_eq!(code, 200, "[{}] its own deployment", api.label);
        // The replaced binding is gone: its id is a 404 too.
        let (code, _) = api
            .call(
                "GET",
                &f.token,
                &format!("/api/v1/agent/deployments/{}/material", f.dep),
                None,
            )
            .await;
        assert_eq!(code, 404, "[{}] a removed deployment", api.label);
        // An agent token is no user credential.
        let (code, _) = api.call("GET", &f.token, "/api/v1/certificates", None).await;
        assert_eq!(code, 401, "[{}] agent token on a user route", api.label);

        // Rotation: the old token is refused at once, the new one works.
        let new_token = token_of(&api, f.sid, true);
        assert_ne!(new_token, f.token);
        let (code, v) = api
            .call(
                "POST",
                &f.token,
                "/api/v1/agent/checkin",
                Some(serde_json::json!({"agent_version": "t", "interval_seconds": 60})),
            )
            .await;
        assert_eq!(code, 401, "[{}] the rotated token: {v}", api.label);
        let o = f.home.run_once();
        assert!(!o.status.success(), "the agent with the old token fails: {}", text(&o));
        assert!(text(&o).contains("not valid"), "{}", text(&o));
        let (code, v) = api
            .call(
                "POST",
                &new_token,
                "/api/v1/agent/checkin",
                Some(serde_json::json!({"agent_version": "t", "interval_seconds": 60})),
            )
            .await;
        assert_eq!(code, 200, "[{}] the new token: {v}", api.label);

        // The agent stops: once it is silent past its interval and grace, the server's monitor
        // turns it `error` and a server_down rule fires once, however often it is checked.
        silent_agent_fires_one_alert(&api, f.sid).await;
        remove_site(&b.nginx, &f.conf, &f.cert_path);
    }
}

/// Makes the server's last check-in 20 minutes old (the agent stopped), checks its monitor
/// twice, and expects the server `error` with exactly one open server_down alert.
async fn silent_agent_fires_one_alert(api: &ApiServer, sid: i64) {
    // Whole seconds, as certdeck stores times.
    let old = chrono::DateTime::from_timestamp((chrono::Utc::now() - chrono::Duration::minutes(20)).timestamp(), 0)
        .unwrap()
        .naive_utc();
    match &api.db {
        certdeck::store::Db::Sqlite(p) => {
            sqlx::query("UPDATE server_agents SET last_checkin_at = ? WHERE server_id = ?")
                .bind(old)
                .bind(sid)
                .execute(p)
                .await
                .map(|_| ())
        }
        certdeck::store::Db::MySql(p) => {
            sqlx::query("UPDATE server_agents SET last_checkin_at = ? WHERE server_id = ?")
                .bind(old)
                .bind(sid)
                .execute(p)
                .await
                .map(|_| ())
        }
    }
    .unwrap();
    let rule = ok(
        api.cli(
            &[
                "--json",
                "alert",
                "add",
                &format!("agent down {sid}"),
                "--type",
                "server_down",
                "--condition",
                "status_change",
                "--value",
                "error",
            ],
            None,
        ),
        "alert add",
    );
    // `alert add` says "added alert rule NAME (id N)".
    let said = String::from_utf8_lossy(&rule.stdout).to_string();
    let rule: i64 = said
        .rsplit("(id ")
        .next()
        .and_then(|r| r.trim().trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("alert add said: {said}"));
    let monitors = json_of(&ok(
        api.cli(
            &["--json", "monitor", "list", "--type", "server", "--limit", "500"],
            None,
        ),
        "monitor list",
    ));
    let monitor = monitors
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["target_id"] == sid)
        .unwrap_or_else(|| panic!("[{}] the server's monitor: {monitors}", api.label))["id"]
        .as_i64()
        .unwrap();
    for _ in 0..2 {
        let o = api.cli(&["--json", "monitor", "check", &monitor.to_string()], None);
        assert!(!o.status.success(), "a silent agent's monitor is not ok: {}", text(&o));
        assert!(text(&o).contains("silent"), "[{}] {}", api.label, text(&o));
    }
    let s = server(api, sid).await;
    assert_eq!(s["status"], "error", "[{}] {s}", api.label);
    let open = json_of(&ok(
        api.cli(&["--json", "alert", "history", "--open", "--limit", "500"], None),
        "alert history",
    ));
    let fired: Vec<&Value> = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["alert_id"] == rule && h["monitor_id"] == monitor)
        .collect();
    assert_eq!(fired.len(), 1, "[{}] one alert: {open}", api.label);
}

/// Steps of an install where the agent is killed (testkit failpoints of the deploy engine).
const STEPS: &[&str] = &["uploaded", "backed-up", "swapped", "tested", "reloaded"];

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_agent_at_each_step_of_an_install_never_leaves_a_mixed_pair() {
    let Some(b) = bed() else { return };
    let api = ApiServer::start(common::api::Backend::Sqlite, &[]).await.unwrap();
    let f = enroll_discover_deploy(&api, &b.nginx, false).await;
    let mut served = f.served.clone();
    for step in STEPS {
        let (next_id, next) = new_cert(&api, &f.name).await;
        bind(&api, next_id, f.sid, &f.cert_path, &f.key_path);
        let mark = f.home.dir.path().join(format!("paused-{step}"));
        let cfg = f.home.config();
        let mut child = f
            .home
            .command(&["agent", "run", "--once", "--agent-config", cfg.to_str().unwrap()])
            .env("CERTDECK_TESTKIT_PAUSE_AT", step)
            .env("CERTDECK_TESTKIT_PAUSE_MARK", &mark)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reached = false;
        for _ in 0..600 {
            if mark.exists() {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reached, "the agent reached step {step}");
        let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
        let _ = child.wait();
        // Killed there: the files on disk are a matching pair (old or new), never mixed.
        assert!(
            pair_matches(&f.cert_path, &f.key_path),
            "after kill at {step}: a mixed pair"
        );
        let now = served_serial(b.nginx.port, &f.name).await;
        assert!(
            now == pem_serial(&served) || now == pem_serial(&next),
            "after kill at {step}: serves {now}, neither old nor new"
        );
        // The next run finishes the install (or reports it honestly) and serves the new pair.
        let o = f.home.run_once();
        assert!(o.status.success(), "the run after a kill at {step}: {}", text(&o));
        wait_served(b.nginx.port, &f.name, &pem_serial(&next)).await;
        assert!(pair_matches(&f.cert_path, &f.key_path));
        let deps = json_of(&ok(
            api.cli(&["--json", "deployment", "list", "--server", &f.sid.to_string()], None),
            "deployment list",
        ));
        let d = deps
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["certificate_id"] == next_id)
            .unwrap()
            .clone();
        assert_eq!(d["status"], "deployed", "after kill at {step}: {d}");
        // No temporary file or transaction record is left behind.
        let leftovers: Vec<String> = std::fs::read_dir(&b.nginx.certs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains("certdeck-new") || n.contains("certdeck-txn"))
            .collect();
        assert!(leftovers.is_empty(), "after kill at {step}: {leftovers:?}");
        served = next;
    }
    remove_site(&b.nginx, &f.conf, &f.cert_path);
}

/// nginx serving `root` on Pebble's http-01 port (5002); removed (and nginx reloaded) on drop.
struct ChallengeSite {
    conf: PathBuf,
    root: PathBuf,
    reload: String,
}

impl Drop for ChallengeSite {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http01_for_a_token_server_is_placed_by_its_looping_agent_and_removed_after() {
    let Some(b) = bed() else { return };
    let (Some(directory), Some(ca)) = (
        std::env::var("CERTDECK_TEST_PEBBLE_DIRECTORY").ok(),
        std::env::var("CERTDECK_TEST_PEBBLE_CA").ok(),
    ) else {
        assert!(!common::peers_required(), "Pebble is not up but peers are required");
        return;
    };
    let api = ApiServer::start(common::api::Backend::Sqlite, &[]).await.unwrap();
    let web = &b.nginx;
    // A document root nginx serves where Pebble validates (the challtestsrv DNS answers
    // 127.0.0.1 for every name): the agent's discovery finds it, so it may write there.
    let domain = format!("h{}.test", rand_suffix());
    let root = std::env::temp_dir().join(format!("certdeck-agent-webroot-{}", rand_suffix()));
    std::fs::create_dir_all(&root).unwrap();
    let site = ChallengeSite {
        conf: web.sites.join("agent-http01.conf"),
        root: root.clone(),
        reload: format!("PATH=$PATH:/usr/sbin; {}", web.reload_cmd),
    };
    std::fs::write(
        &site.conf,
        format!(
            "server {{\n  listen 127.0.0.1:5002;\n  server_name {domain};\n  root {};\n}}\n",
            root.display()
        ),
    )
    .unwrap();
    common::bed::sh(&site.reload);
    let sid = add_token_server(&api, web, false, &format!("agent-h01-{}", rand_suffix()));
    let token = token_of(&api, sid, false);
    let home = AgentHome::new();
    ok(home.enroll(&api, &token, web), "enroll");
    ok(home.run_once(), "agent run (discover)");
    ok(
        api.cli(
            &["ca", "add", "pebble", "--directory", &directory, "--trust-root", &ca],
            None,
        ),
        "ca add",
    );
    // The looping agent long-polls for challenge files.
    let cfg = home.config();
    let mut agent = home
        .command(&["agent", "run", "--agent-config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let o = api.cli(
        &[
            "cert",
            "request",
            "--domain",
            &domain,
            "--ca",
            "pebble",
            "--email",
            "ops@example.test",
            "--challenge",
            "http-01",
            "--http-server",
            &sid.to_string(),
        ],
        None,
    );
    let log = text(&o);
    assert!(o.status.success(), "cert request through the agent: {log}");
    assert!(log.contains("queued for the pull agent"), "{log}");
    assert!(log.contains("placed the challenge file"), "{log}");
    // Pebble fetched the token from nginx; the agent removes the file after validation.
    let dir = root.join(".well-known/acme-challenge");
    let mut left = Vec::new();
    for _ in 0..100 {
        left = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left.is_empty(), "challenge files removed by the agent: {left:?}");
    let access = std::fs::read_to_string(Path::new(&web.conf).with_file_name("access.log")).unwrap();
    assert!(
        access.contains("GET /.well-known/acme-challenge/"),
        "nginx served the challenge"
    );
    let audits = api.audit_of("agent.challenge").await;
    assert!(audits.len() >= 2, "placed and removed, audited: {audits:?}");
    let _ = agent.kill();
    let _ = agent.wait();
    drop(site);
}
