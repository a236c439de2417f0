//! The HTTP API's tasks, schedules, settings, users and API-key routes against a real
//! `certdeck --serve-api … --serve-scheduler` process over TLS, on SQLite and on MariaDB (from
//! the test bed): each resource's operations, another user's rows neither listed, read nor
//! changed (404, nothing written), bad input as problem documents naming the field, audit rows
//! carrying the client's address and user agent, a revoked key refused at once, and a task's
//! log followed live over Server-Sent Events (in order, ending with the final status, resumed
//! with `Last-Event-ID`). The binary's `testkit` runner runs the tasks.

mod common;

use std::time::{Duration, Instant};

use certdeck::domain::TaskType;
use certdeck::store::queue::{self, NewTask};
use certdeck::store::Db;
use chrono::Utc;
use common::api::{ApiServer, Backend, UA};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The passwords the users made here choose at their first login.
const USER_PW: &str = "a user's own password";

// ------------------------------------------------------------------ the server

/// A running `certdeck --serve-api --serve-scheduler` (the harness's [`ApiServer`]) and a client
/// with a longer timeout, for event streams.
struct Server {
    api: ApiServer,
    http: reqwest::Client,
}

impl Server {
    /// The API with the scheduler on `backend` (the counting runner logging each of its five
    /// steps of 300 ms), no rate limits; and the admin's access token.
    async fn start(backend: Backend) -> Option<(Server, String)> {
        let runs = std::env::temp_dir().join(format!("certdeck-api-admin-runs-{}.txt", std::process::id()));
        for (k, v) in [
            ("CERTDECK_TESTKIT_COUNT_FILE", runs.to_str().unwrap()),
            ("CERTDECK_TESTKIT_STEPS", "5"),
            ("CERTDECK_TESTKIT_STEP_MS", "300"),
            ("CERTDECK_TESTKIT_LOG_STEPS", "1"),
        ] {
            // The server process inherits them; this test binary runs one test per process.
            std::env::set_var(k, v);
        }
        let api = ApiServer::start(
            backend,
            &[
                "--serve-scheduler",
                "--api-rate-per-key",
                "0",
                "--api-rate-per-address",
                "0",
            ],
        )
        .await?;
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(api.ca_pem.as_bytes()).unwrap())
            .user_agent(UA)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let admin = api.admin.clone();
        Some((Server { api, http }, admin))
    }

    fn log(&self) -> String {
        format!("(server at {})", self.api.base)
    }

    fn db(&self) -> &Db {
        &self.api.db
    }

    fn label(&self) -> &'static str {
        self.api.label
    }

    fn request(&self, method: Method, path: &str, cred: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api.base))
            .bearer_auth(cred)
    }

    /// A request with an optional JSON body: (status, JSON body or Null).
    async fn call(&self, method: Method, path: &str, cred: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.request(method, path, cred);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn get(&self, path: &str, cred: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, cred, None).await
    }

    /// A raw body (malformed JSON) with `Content-Type: application/json`.
    async fn raw(&self, method: Method, path: &str, cred: &str, body: &str) -> (StatusCode, Value) {
        let res = self
            .request(method, path, cred)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Logs in with a one-time password, replacing it: the access token.
    async fn first_login(&self, user: &str, one_time: &str, new: &str) -> String {
        let (st, v) = self
            .call(
                Method::POST,
                "/api/v1/login",
                "",
                Some(json!({"username": user, "password": one_time, "new_password": new})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{}] first login of {user}: {v}", self.label());
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a user as `admin` and logs it in: (id, access token).
    async fn user(&self, admin: &str, name: &str) -> (i64, String) {
        let (st, v) = self
            .call(
                Method::POST,
                "/api/v1/users",
                admin,
                Some(json!({"username": name, "email": format!("{name}@example.com")})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{}] create {name}: {v}", self.label());
        let pw = v["one_time_password"].as_str().unwrap().to_string();
        let token = self.first_login(name, &pw, USER_PW).await;
        (v["user"]["id"].as_i64().unwrap(), token)
    }

    async fn count(&self, sql: &str) -> i64 {
        common::count(self.db(), sql).await
    }

    async fn audits(&self) -> i64 {
        common::audit_count(self.db()).await
    }

    /// The newest audit row of `action`: (ip_address, user_agent).
    async fn audit_client(&self, action: &str) -> (String, String) {
        let sql = format!(
            "SELECT COALESCE(ip_address, '') FROM audit_logs WHERE action = '{action}' ORDER BY id DESC LIMIT 1"
        );
        let ip = common::strings(self.db(), &sql).await;
        let sql = format!(
            "SELECT COALESCE(user_agent, '') FROM audit_logs WHERE action = '{action}' ORDER BY id DESC LIMIT 1"
        );
        let ua = common::strings(self.db(), &sql).await;
        assert!(!ip.is_empty(), "[{}] no audit row {action}", self.label());
        (ip[0].clone(), ua[0].clone())
    }

    /// Asserts that the newest `action` row names this test's client.
    async fn assert_audited(&self, action: &str) {
        let (ip, ua) = self.audit_client(action).await;
        assert_eq!(ip, "127.0.0.1", "[{}] {action} ip", self.label());
        assert_eq!(ua, UA, "[{}] {action} user agent", self.label());
    }
}

/// Asserts a problem document with `status` naming `field`.
fn assert_problem(got: &(StatusCode, Value), status: u16, field: Option<&str>, what: &str) {
    assert_eq!(got.0.as_u16(), status, "{what}: {}", got.1);
    assert!(
        got.1["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:certdeck:problem:")),
        "{what}: {}",
        got.1
    );
    if let Some(f) = field {
        assert_eq!(got.1["field"].as_str(), Some(f), "{what}: {}", got.1);
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

// ------------------------------------------------------------------ SSE

/// One event of a stream.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads a task's event stream until `end` (or `limit`): the events, in order.
async fn follow(
    s: &Server,
    task: i64,
    cred: &str,
    last_event_id: Option<i64>,
    after: Option<i64>,
    limit: Duration,
) -> Vec<Sse> {
    let mut path = format!("/api/v1/tasks/{task}/logs/stream");
    if let Some(a) = after {
        path.push_str(&format!("?after={a}"));
    }
    let mut r = s
        .request(Method::GET, &path, cred)
        .timeout(limit + Duration::from_secs(5));
    if let Some(id) = last_event_id {
        r = r.header("Last-Event-ID", id.to_string());
    }
    let mut res = r.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "[{}] stream of task {task}", s.label());
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    let mut out = Vec::new();
    let start = Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        assert!(
            !left.is_zero(),
            "[{}] the stream did not end in {limit:?}: {out:?}",
            s.label()
        );
        let chunk = match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => return out,
            Ok(Err(e)) => panic!("[{}] stream read: {e}", s.label()),
            Err(_) => panic!("[{}] the stream did not end in {limit:?}: {out:?}", s.label()),
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
            let mut comment_only = true;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                    comment_only = false;
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                    comment_only = false;
                }
            }
            if comment_only {
                continue;
            }
            let ended = event == "end";
            out.push(Sse {
                event,
                id,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
            });
            if ended {
                return out;
            }
        }
    }
}

/// Queues a testkit task for `user` (no target; visible to its creator), due after `delay`.
async fn queue_task(s: &Server, user: i64, delay: chrono::Duration, params: Option<Value>, max_attempts: i32) -> i64 {
    let t = NewTask {
        task_type: TaskType::ServerCheck,
        priority: 5,
        target_type: None,
        target_id: None,
        params,
        scheduled_at: Utc::now() + delay,
        created_by: Some(user),
        max_attempts,
    };
    queue::enqueue(s.db(), &t, None).await.unwrap()
}

async fn wait_status(s: &Server, task: i64, cred: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let (_, v) = s.get(&format!("/api/v1/tasks/{task}"), cred).await;
        if v["status"] == want {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "[{}] task {task} is not {want}: {v}\n{}",
            s.label(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ------------------------------------------------------------------ the scenarios

/// Tasks: the stream (live, in order, ending with the final status, resumed), the log pages,
/// list, show, cancel and retry, another user's tasks, bad input.
async fn tasks(s: &Server, admin: &str) {
    let l = s.label();
    let (bob, bob_t) = s.user(admin, "taskbob").await;
    let (_eve, eve_t) = s.user(admin, "taskeve").await;

    // Follow a task from before it starts until it completes.
    let t1 = queue_task(s, bob, chrono::Duration::seconds(2), None, 1).await;
    let evs = follow(s, t1, &bob_t, None, None, Duration::from_secs(60)).await;
    assert_eq!(evs[0].event, "status", "[{l}] {evs:?}");
    assert_eq!(evs[0].data["status"], "pending", "[{l}] {evs:?}");
    assert!(
        evs.iter().any(|e| e.event == "status" && e.data["status"] == "running"),
        "[{l}] {evs:?}"
    );
    let logs: Vec<&Sse> = evs.iter().filter(|e| e.event == "log").collect();
    let messages: Vec<&str> = logs.iter().map(|e| e.data["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        [
            "testkit step 1 of 5",
            "testkit step 2 of 5",
            "testkit step 3 of 5",
            "testkit step 4 of 5",
            "testkit step 5 of 5",
            "testkit run counted"
        ],
        "[{l}] {evs:?}"
    );
    let log_ids: Vec<i64> = logs.iter().map(|e| e.id.as_deref().unwrap().parse().unwrap()).collect();
    assert!(log_ids.windows(2).all(|w| w[0] < w[1]), "[{l}] ids {log_ids:?}");
    assert_eq!(logs[0].data["id"].as_i64(), Some(log_ids[0]));
    let end = evs.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "completed", "[{l}] {end:?}");
    assert_eq!(end.data["progress"], 100);
    // Progress went up while it ran.
    let progress: Vec<i64> = evs
        .iter()
        .filter(|e| e.event == "status")
        .map(|e| e.data["progress"].as_i64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]) && progress.len() >= 2,
        "[{l}] {progress:?}"
    );

    // Resume after the second line: with Last-Event-ID, and with ?after=.
    for (header, after) in [
        (Some(log_ids[1]), None),
        (None, Some(log_ids[1])),
        (Some(log_ids[1]), Some(0)),
    ] {
        let again = follow(s, t1, &bob_t, header, after, Duration::from_secs(20)).await;
        let ids: Vec<i64> = again
            .iter()
            .filter(|e| e.event == "log")
            .map(|e| e.id.as_deref().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ids, log_ids[2..], "[{l}] resumed {header:?} {after:?}: {again:?}");
        assert_eq!(again.last().unwrap().event, "end");
        assert_eq!(again.last().unwrap().data["status"], "completed");
    }

    // Another user's task: 404 at the start of the stream, and everywhere else.
    for path in [
        format!("/api/v1/tasks/{t1}/logs/stream"),
        format!("/api/v1/tasks/{t1}"),
        format!("/api/v1/tasks/{t1}/logs"),
    ] {
        assert_problem(&s.get(&path, &eve_t).await, 404, None, &format!("[{l}] eve {path}"));
    }
    let (_, eve_list) = s.get("/api/v1/tasks", &eve_t).await;
    assert!(!ids(&eve_list).contains(&t1), "[{l}] {eve_list}");
    let before = s.audits().await;
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/tasks/{t1}/retry"), &eve_t, None)
            .await,
        404,
        None,
        "eve retries bob's task",
    );
    assert_eq!(s.audits().await, before, "[{l}] a refused retry wrote nothing");
    assert_eq!(
        common::text_with(s.db(), "SELECT status FROM tasks WHERE id = ?", t1).await,
        "completed"
    );

    // Bad Last-Event-ID and after.
    let r = s
        .request(Method::GET, &format!("/api/v1/tasks/{t1}/logs/stream"), &bob_t)
        .header("Last-Event-ID", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "Last-Event-ID");
    assert_problem(
        &s.get(&format!("/api/v1/tasks/{t1}/logs/stream?after=-3"), &bob_t).await,
        422,
        Some("after"),
        "negative after",
    );

    // The log as pages.
    let (st, p1) = s.get(&format!("/api/v1/tasks/{t1}/logs?limit=4"), &bob_t).await;
    assert_eq!(st, StatusCode::OK, "{p1}");
    assert_eq!(ids(&p1), log_ids[..4]);
    assert_eq!(p1["more"], true);
    let next = p1["next_after"].as_i64().unwrap();
    let (_, p2) = s
        .get(&format!("/api/v1/tasks/{t1}/logs?limit=4&after={next}"), &bob_t)
        .await;
    assert_eq!(ids(&p2), log_ids[4..]);
    assert_eq!(p2["more"], false);
    assert_problem(
        &s.get(&format!("/api/v1/tasks/{t1}/logs?limit=0"), &bob_t).await,
        422,
        Some("limit"),
        "limit 0",
    );
    assert_problem(
        &s.get(&format!("/api/v1/tasks/{t1}/logs?after=abc"), &bob_t).await,
        422,
        None,
        "after not a number",
    );

    // List and show.
    let (st, list) = s.get("/api/v1/tasks?status=completed", &bob_t).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), [t1]);
    let (_, list) = s.get("/api/v1/tasks?q=status:pending", &bob_t).await;
    assert!(ids(&list).is_empty(), "{list}");
    let (_, detail) = s.get(&format!("/api/v1/tasks/{t1}"), &bob_t).await;
    assert_eq!(detail["attempts"], 1, "{detail}");
    assert_eq!(detail["task_type"], "server_check");
    assert_problem(
        &s.get("/api/v1/tasks?colour=red", &bob_t).await,
        422,
        Some("filter"),
        "unknown term",
    );
    assert_problem(
        &s.get("/api/v1/tasks?status=shiny", &bob_t).await,
        422,
        Some("status"),
        "bad status",
    );
    assert_problem(
        &s.get("/api/v1/tasks?cursor=garbage", &bob_t).await,
        400,
        Some("cursor"),
        "bad cursor",
    );
    assert_problem(&s.get("/api/v1/tasks/abc", &bob_t).await, 422, Some("id"), "bad id");
    assert_problem(&s.get("/api/v1/tasks/999999", &bob_t).await, 404, None, "no such task");
    // Paging with a cursor.
    let t_more = queue_task(s, bob, chrono::Duration::hours(1), None, 1).await;
    let (_, page1) = s.get("/api/v1/tasks?limit=1", &bob_t).await;
    assert_eq!(ids(&page1), [t_more]);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = s.get(&format!("/api/v1/tasks?limit=1&cursor={cursor}"), &bob_t).await;
    assert_eq!(ids(&page2), [t1]);

    // Cancel a pending task; cancelling it again is a conflict; eve cannot.
    let before = s.audits().await;
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/tasks/{t_more}/cancel"), &eve_t, None)
            .await,
        404,
        None,
        "eve cancels bob's task",
    );
    assert_eq!(s.audits().await, before);
    let (st, v) = s
        .call(Method::POST, &format!("/api/v1/tasks/{t_more}/cancel"), &bob_t, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "cancelled");
    s.assert_audited("task.cancel").await;
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/tasks/{t_more}/cancel"), &bob_t, None)
            .await,
        409,
        None,
        "cancel twice",
    );

    // A task that fails, streamed to its end, then retried.
    let t2 = queue_task(s, bob, chrono::Duration::zero(), Some(json!({"fail_attempts": 1})), 1).await;
    let evs = follow(s, t2, &bob_t, None, None, Duration::from_secs(60)).await;
    let end = evs.last().unwrap();
    assert_eq!(end.data["status"], "failed", "[{l}] {evs:?}");
    assert!(end.data["error_message"].as_str().unwrap().contains("fails on purpose"));
    assert!(evs.iter().any(|e| e.event == "log" && e.data["log_level"] == "error"));
    let (st, v) = s
        .call(Method::POST, &format!("/api/v1/tasks/{t2}/retry"), &bob_t, None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "pending");
    s.assert_audited("task.retry").await;
    wait_status(s, t2, &bob_t, "failed").await;

    // The admin sees every task.
    let (_, all) = s.get("/api/v1/tasks?limit=500", admin).await;
    let all = ids(&all);
    assert!(all.contains(&t1) && all.contains(&t2), "[{l}] {all:?}");
}

/// Schedules: create, list, show, update, enable/disable, run now; another user's; bad input.
async fn schedules(s: &Server, admin: &str) {
    let l = s.label();
    let (_, bob) = s.user(admin, "schedbob").await;
    let (_, eve) = s.user(admin, "schedeve").await;
    let body = json!({"name": "nightly check", "task_type": "certificate_check", "cron_expression": "0 3 * * *"});
    let (st, v) = s
        .call(Method::POST, "/api/v1/schedules", &bob, Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "[{l}] {v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["is_active"], true);
    assert!(v["next_run_at"].is_string(), "{v}");
    s.assert_audited("schedule.create").await;

    // Bad input: nothing written.
    let before = (s.audits().await, s.count("SELECT COUNT(*) FROM scheduled_tasks").await);
    let mut bad = body.clone();
    bad["cron_expression"] = json!("every night");
    assert_problem(
        &s.call(Method::POST, "/api/v1/schedules", &bob, Some(bad)).await,
        422,
        Some("cron_expression"),
        "bad cron",
    );
    let mut bad = body.clone();
    bad["colour"] = json!("red");
    assert_problem(
        &s.call(Method::POST, "/api/v1/schedules", &bob, Some(bad)).await,
        422,
        Some("colour"),
        "unknown field",
    );
    let mut bad = body.clone();
    bad["task_type"] = json!(7);
    assert_problem(
        &s.call(Method::POST, "/api/v1/schedules", &bob, Some(bad)).await,
        422,
        Some("task_type"),
        "wrong type",
    );
    let mut bad = body.clone();
    bad["system"] = json!(true);
    assert_problem(
        &s.call(Method::POST, "/api/v1/schedules", &bob, Some(bad)).await,
        403,
        None,
        "user system schedule",
    );
    assert_problem(
        &s.raw(Method::POST, "/api/v1/schedules", &bob, "{\"name\": ").await,
        400,
        Some("body"),
        "malformed JSON",
    );
    assert_eq!(
        (s.audits().await, s.count("SELECT COUNT(*) FROM scheduled_tasks").await),
        before,
        "[{l}] refused creations wrote nothing"
    );

    // Lists: own for a user, all (system ones too) for the admin.
    let (_, mine) = s.get("/api/v1/schedules", &bob).await;
    assert_eq!(ids(&mine), [id], "[{l}] {mine}");
    let (_, theirs) = s.get("/api/v1/schedules", &eve).await;
    assert!(ids(&theirs).is_empty(), "[{l}] {theirs}");
    let (_, all) = s.get("/api/v1/schedules", admin).await;
    let all_ids = ids(&all);
    assert!(all_ids.contains(&id), "[{l}] {all}");

    // Another user: 404 on read, update, enable/disable and run; nothing written.
    let before = s.audits().await;
    assert_problem(
        &s.get(&format!("/api/v1/schedules/{id}"), &eve).await,
        404,
        None,
        "eve reads",
    );
    assert_problem(
        &s.call(
            Method::PATCH,
            &format!("/api/v1/schedules/{id}"),
            &eve,
            Some(json!({"name": "mine"})),
        )
        .await,
        404,
        None,
        "eve updates",
    );
    for verb in ["disable", "enable", "run"] {
        assert_problem(
            &s.call(Method::POST, &format!("/api/v1/schedules/{id}/{verb}"), &eve, None)
                .await,
            404,
            None,
            &format!("eve {verb}"),
        );
    }
    assert_eq!(s.audits().await, before, "[{l}] refused changes wrote nothing");
    assert_eq!(
        common::text_with(s.db(), "SELECT name FROM scheduled_tasks WHERE id = ?", id).await,
        "nightly check"
    );

    // Update, disable, run (refused while disabled), enable, run now.
    let (st, v) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/schedules/{id}"),
            &bob,
            Some(json!({"name": "hourly check", "cron_expression": "0 * * * *"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["cron_expression"].as_str()),
        (Some("hourly check"), Some("0 * * * *"))
    );
    s.assert_audited("schedule.update").await;
    assert_problem(
        &s.call(
            Method::PATCH,
            &format!("/api/v1/schedules/{id}"),
            &bob,
            Some(json!({"task_type": "cleanup"})),
        )
        .await,
        422,
        Some("task_type"),
        "the kind does not change",
    );
    let (_, v) = s
        .call(Method::POST, &format!("/api/v1/schedules/{id}/disable"), &bob, None)
        .await;
    assert_eq!(v["is_active"], false, "{v}");
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/schedules/{id}/run"), &bob, None)
            .await,
        409,
        None,
        "run disabled",
    );
    let (_, v) = s
        .call(Method::POST, &format!("/api/v1/schedules/{id}/enable"), &bob, None)
        .await;
    assert_eq!(v["is_active"], true, "{v}");
    let (st, v) = s
        .call(Method::POST, &format!("/api/v1/schedules/{id}/run"), &bob, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let due: chrono::DateTime<Utc> = v["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(due <= Utc::now() + chrono::Duration::seconds(1), "{v}");
    s.assert_audited("schedule.run_now").await;
    let (_, v) = s.get(&format!("/api/v1/schedules/{id}"), &bob).await;
    assert_eq!(v["id"], id);
    assert_problem(&s.get("/api/v1/schedules/0", &bob).await, 422, Some("id"), "id 0");
}

/// Settings: list, show, set by an admin; a user refused; bad values.
async fn settings(s: &Server, admin: &str) {
    let l = s.label();
    let (_, bob) = s.user(admin, "setbob").await;
    let (st, v) = s.get("/api/v1/settings", admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["setting_key"] == "system.timezone"));
    let (st, v) = s.get("/api/v1/settings/retention.task_logs_days", admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["setting_value"], "30");
    let path = "/api/v1/settings/retention.task_logs_days";
    let (st, v) = s.call(Method::PUT, path, admin, Some(json!({"value": "14"}))).await;
    assert_eq!(st, StatusCode::OK, "[{l}] {v}");
    assert_eq!(v["setting_value"], "14");
    s.assert_audited("setting.update").await;

    // A user may read but not set; bad values and bodies: nothing written.
    let (st, _) = s.get(path, &bob).await;
    assert_eq!(st, StatusCode::OK);
    let before = s.audits().await;
    assert_problem(
        &s.call(Method::PUT, path, &bob, Some(json!({"value": "1"}))).await,
        403,
        None,
        "user sets",
    );
    assert_problem(
        &s.call(Method::PUT, path, admin, Some(json!({"value": "soon"}))).await,
        422,
        Some("retention.task_logs_days"),
        "not a number",
    );
    assert_problem(
        &s.call(Method::PUT, path, admin, Some(json!({"value": 5}))).await,
        422,
        Some("value"),
        "wrong type",
    );
    assert_problem(
        &s.call(Method::PUT, path, admin, Some(json!({"value": "5", "colour": "red"})))
            .await,
        422,
        Some("colour"),
        "unknown field",
    );
    assert_problem(
        &s.call(
            Method::PUT,
            "/api/v1/settings/no.such.key",
            admin,
            Some(json!({"value": "1"})),
        )
        .await,
        404,
        None,
        "unknown key",
    );
    assert_eq!(s.audits().await, before, "[{l}] refused sets wrote nothing");
    let (_, v) = s.get(path, admin).await;
    assert_eq!(v["setting_value"], "14");

    // An admin adds a key with its type, and deletes it; built-in keys stay.
    let (st, v) = s
        .call(
            Method::PUT,
            "/api/v1/settings/site.banner",
            admin,
            Some(json!({"value": "hello", "type": "string"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.assert_audited("setting.create").await;
    let (st, _) = s
        .call(Method::DELETE, "/api/v1/settings/site.banner", admin, None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_problem(
        &s.get("/api/v1/settings/site.banner", admin).await,
        404,
        None,
        "deleted",
    );
    assert_problem(&s.call(Method::DELETE, path, admin, None).await, 403, None, "built-in");
}

/// Users: create (one-time password once, no hash ever), list with terms, show, update,
/// unlock, delete; a user sees only itself; bad input.
async fn users(s: &Server, admin: &str) {
    let l = s.label();
    let (st, v) = s
        .call(
            Method::POST,
            "/api/v1/users",
            admin,
            Some(json!({"username": "ubob", "email": "ubob@example.com"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "[{l}] {v}");
    let pw = v["one_time_password"].as_str().unwrap().to_string();
    let bob_id = v["user"]["id"].as_i64().unwrap();
    assert!(
        v["user"].get("password_hash").is_none() && v["user"].get("password").is_none(),
        "{v}"
    );
    s.assert_audited("user.create").await;
    let bob = s.first_login("ubob", &pw, USER_PW).await;
    let (_, admin_me) = s.get("/api/v1/whoami", admin).await;
    let admin_id = admin_me["user_id"].as_i64().unwrap();

    // Given a password, none comes back.
    let (st, v) = s
        .call(
            Method::POST,
            "/api/v1/users",
            admin,
            Some(json!({"username": "ucarol", "email": "ucarol@example.com", "password": "carol's first password", "role": "user"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(v.get("one_time_password").is_none(), "{v}");
    assert!(!v.to_string().contains("carol's first password"));
    let carol_id = v["user"]["id"].as_i64().unwrap();

    // List with terms; the whole JSON has no password hash.
    let (st, list) = s.get("/api/v1/users?role=user&status=active", admin).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let got = ids(&list);
    assert!(
        got.contains(&bob_id) && got.contains(&carol_id) && !got.contains(&admin_id),
        "{list}"
    );
    assert!(!list.to_string().contains("argon2"), "[{l}] a hash in {list}");
    let (_, admins) = s.get("/api/v1/users?q=role:admin", admin).await;
    assert_eq!(ids(&admins), [admin_id]);
    assert_problem(
        &s.get("/api/v1/users?colour=red", admin).await,
        422,
        Some("filter"),
        "unknown term",
    );
    assert_problem(
        &s.get("/api/v1/users?role=god", admin).await,
        422,
        Some("role"),
        "bad role",
    );
    assert_problem(
        &s.get("/api/v1/users?cursor=e30", admin).await,
        400,
        Some("cursor"),
        "bad cursor",
    );

    // A user: itself only; the list and other users are refused, nothing written.
    assert_problem(&s.get("/api/v1/users", &bob).await, 403, None, "user lists users");
    let (st, me) = s.get(&format!("/api/v1/users/{bob_id}"), &bob).await;
    assert_eq!((st, me["username"].as_str()), (StatusCode::OK, Some("ubob")));
    let before = s.audits().await;
    assert_problem(
        &s.get(&format!("/api/v1/users/{carol_id}"), &bob).await,
        404,
        None,
        "bob reads carol",
    );
    assert_problem(
        &s.call(
            Method::PATCH,
            &format!("/api/v1/users/{carol_id}"),
            &bob,
            Some(json!({"full_name": "x"})),
        )
        .await,
        404,
        None,
        "bob edits carol",
    );
    assert_problem(
        &s.call(Method::DELETE, &format!("/api/v1/users/{carol_id}"), &bob, None)
            .await,
        403,
        None,
        "bob deletes",
    );
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/users/{carol_id}/unlock"), &bob, None)
            .await,
        404,
        None,
        "bob unlocks carol",
    );
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/users",
            &bob,
            Some(json!({"username": "x1", "email": "x1@example.com"})),
        )
        .await,
        403,
        None,
        "bob creates",
    );
    assert_problem(
        &s.call(
            Method::PATCH,
            &format!("/api/v1/users/{bob_id}"),
            &bob,
            Some(json!({"role": "admin"})),
        )
        .await,
        403,
        None,
        "bob promotes itself",
    );
    assert_eq!(s.audits().await, before, "[{l}] refused user changes wrote nothing");

    // Update: set and clear; bad values and bodies.
    let path = format!("/api/v1/users/{carol_id}");
    let (st, v) = s
        .call(
            Method::PATCH,
            &path,
            admin,
            Some(json!({"full_name": "Carol C", "phone": "+1 555 0100"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["full_name"].as_str(), v["phone"].as_str()),
        (Some("Carol C"), Some("+1 555 0100"))
    );
    s.assert_audited("user.update").await;
    let (_, v) = s
        .call(Method::PATCH, &path, admin, Some(json!({"full_name": null})))
        .await;
    assert!(v["full_name"].is_null() && v["phone"] == "+1 555 0100", "{v}");
    let before = s.audits().await;
    assert_problem(
        &s.call(Method::PATCH, &path, admin, Some(json!({"email": "not an email"})))
            .await,
        422,
        Some("email"),
        "bad email",
    );
    assert_problem(
        &s.call(Method::PATCH, &path, admin, Some(json!({"role": 5}))).await,
        422,
        Some("role"),
        "wrong type",
    );
    assert_problem(
        &s.call(Method::PATCH, &path, admin, Some(json!({"password": "x"})))
            .await,
        422,
        Some("password"),
        "no password here",
    );
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/users",
            admin,
            Some(json!({"username": "ubob", "email": "b2@example.com"})),
        )
        .await,
        409,
        None,
        "taken",
    );
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/users",
            admin,
            Some(json!({"email": "x@example.com"})),
        )
        .await,
        422,
        Some("username"),
        "missing username",
    );
    assert_eq!(s.audits().await, before, "[{l}] refused user changes wrote nothing");

    // Unlock: not locked is a conflict; after failed logins it is active again.
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/users/{bob_id}/unlock"), admin, None)
            .await,
        409,
        None,
        "not locked",
    );
    for _ in 0..5 {
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/login",
                "",
                Some(json!({"username": "ubob", "password": "wrong password!"})),
            )
            .await;
        assert!(st.is_client_error(), "{st}");
    }
    let (_, v) = s.get(&format!("/api/v1/users/{bob_id}"), admin).await;
    assert_eq!(v["status"], "locked", "[{l}] {v}");
    let (st, v) = s
        .call(Method::POST, &format!("/api/v1/users/{bob_id}/unlock"), admin, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["failed_login_count"].as_i64()),
        (Some("active"), Some(0))
    );
    s.assert_audited("user.unlock").await;

    // Delete.
    let (st, _) = s.call(Method::DELETE, &path, admin, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.assert_audited("user.delete").await;
    assert_problem(&s.get(&path, admin).await, 404, None, "deleted user");
    assert_problem(
        &s.call(Method::DELETE, &format!("/api/v1/users/{admin_id}"), admin, None)
            .await,
        409,
        None,
        "delete self",
    );
}

/// API keys: create (secret once), use, list (own; all for an admin), disable, enable,
/// revoke (refused at once); another user's keys; an API key cannot manage keys.
async fn api_keys(s: &Server, admin: &str) {
    let l = s.label();
    let (bob_id, bob) = s.user(admin, "keybob").await;
    let (_, eve) = s.user(admin, "keyeve").await;
    let (st, v) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &bob,
            Some(json!({"name": "ci", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "[{l}] {v}");
    let key_id = v["key"]["id"].as_i64().unwrap();
    let secret = v["secret"].as_str().unwrap().to_string();
    let cred = v["credential"].as_str().unwrap().to_string();
    assert_eq!(cred, format!("{}:{secret}", v["key"]["api_key"].as_str().unwrap()));
    assert!(v["key"].get("secret_hash").is_none(), "{v}");
    s.assert_audited("apikey.create").await;
    let (st, who) = s.get("/api/v1/whoami", &cred).await;
    assert_eq!(st, StatusCode::OK, "{who}");
    assert_eq!(
        (who["user_id"].as_i64(), who["role"].as_str()),
        (Some(bob_id), Some("api"))
    );

    // The secret is never shown again.
    let (_, mine) = s.get("/api/v1/api-keys", &bob).await;
    assert_eq!(ids(&mine), [key_id]);
    assert!(!mine.to_string().contains(&secret), "[{l}] the secret in a list");
    let (_, all) = s.get("/api/v1/api-keys", admin).await;
    assert!(ids(&all).contains(&key_id));
    assert!(!all.to_string().contains(&secret));
    let (_, theirs) = s.get("/api/v1/api-keys", &eve).await;
    assert!(ids(&theirs).is_empty(), "{theirs}");
    assert_problem(
        &s.get("/api/v1/api-keys?status=active", &bob).await,
        422,
        Some("filter"),
        "no terms",
    );

    // Another user, and the key itself, cannot change it; nothing written.
    let before = (s.audits().await, s.count("SELECT COUNT(*) FROM api_keys").await);
    for verb in ["disable", "enable", "revoke"] {
        assert_problem(
            &s.call(Method::POST, &format!("/api/v1/api-keys/{key_id}/{verb}"), &eve, None)
                .await,
            404,
            None,
            &format!("eve {verb}"),
        );
    }
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/api-keys/{key_id}/revoke"), &cred, None)
            .await,
        403,
        None,
        "a key revokes",
    );
    assert_problem(
        &s.call(Method::POST, "/api/v1/api-keys", &cred, Some(json!({"name": "more"})))
            .await,
        403,
        None,
        "a key creates",
    );
    assert_problem(
        &s.call(Method::POST, "/api/v1/api-keys", &bob, Some(json!({"name": ""})))
            .await,
        422,
        Some("name"),
        "empty name",
    );
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/api-keys",
            &bob,
            Some(json!({"name": "x", "expires_in_days": "soon"})),
        )
        .await,
        422,
        Some("expires_in_days"),
        "wrong type",
    );
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/api-keys",
            &bob,
            Some(json!({"name": "x", "user": "keyeve"})),
        )
        .await,
        404,
        None,
        "a key for another user",
    );
    assert_eq!(
        (s.audits().await, s.count("SELECT COUNT(*) FROM api_keys").await),
        before,
        "[{l}] refused key changes wrote nothing"
    );

    // Disable: refused; enable: accepted again; revoke: refused at once, for good.
    let (st, v) = s
        .call(Method::POST, &format!("/api/v1/api-keys/{key_id}/disable"), &bob, None)
        .await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("inactive")), "{v}");
    s.assert_audited("apikey.inactive").await;
    assert_problem(&s.get("/api/v1/whoami", &cred).await, 401, None, "disabled key");
    let (_, v) = s
        .call(Method::POST, &format!("/api/v1/api-keys/{key_id}/enable"), &bob, None)
        .await;
    assert_eq!(v["status"], "active");
    assert_eq!(s.get("/api/v1/whoami", &cred).await.0, StatusCode::OK);
    let (_, v) = s
        .call(Method::POST, &format!("/api/v1/api-keys/{key_id}/revoke"), &bob, None)
        .await;
    assert_eq!(v["status"], "revoked");
    s.assert_audited("apikey.revoked").await;
    let refused = s.get("/api/v1/whoami", &cred).await;
    assert_problem(&refused, 401, None, "revoked key");
    assert_problem(&s.get("/api/v1/tasks", &cred).await, 401, None, "revoked key lists");
    assert_problem(
        &s.call(Method::POST, &format!("/api/v1/api-keys/{key_id}/enable"), &bob, None)
            .await,
        409,
        None,
        "revocation is final",
    );

    // An admin creates a key for bob; bob lists it.
    let (st, v) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            admin,
            Some(json!({"name": "deploy", "user": "keybob"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["key"]["user_id"].as_i64(), Some(bob_id));
    let (_, mine) = s.get("/api/v1/api-keys", &bob).await;
    assert_eq!(ids(&mine).len(), 2);

    // Permissions: read-write by default; a read key reads.
    assert_eq!(v["key"]["permissions"], "read-write", "{v}");
    let (st, v) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &bob,
            Some(json!({"name": "dash", "permissions": "read"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["key"]["permissions"], "read");
    let read = v["credential"].as_str().unwrap().to_string();
    assert_eq!(s.get("/api/v1/tasks", &read).await.0, StatusCode::OK);
    assert_problem(
        &s.call(
            Method::POST,
            "/api/v1/api-keys",
            &bob,
            Some(json!({"name": "x", "permissions": "all"})),
        )
        .await,
        422,
        Some("permissions"),
        "bad permissions",
    );
}

async fn run_all(backend: Backend) {
    let Some((s, admin)) = Server::start(backend).await else {
        return;
    };
    settings(&s, &admin).await;
    users(&s, &admin).await;
    api_keys(&s, &admin).await;
    schedules(&s, &admin).await;
    tasks(&s, &admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_on_sqlite() {
    run_all(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_on_mariadb() {
    run_all(Backend::MariaDb).await;
}
