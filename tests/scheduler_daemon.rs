//! Real `certdeck --serve-scheduler` processes on one MariaDB database (feature `testkit`: the
//! binary's counting runner appends `<task> <attempt> <pid>` per run to a file): three daemons
//! run 2,000 tasks exactly once and stop cleanly on SIGTERM; a daemon killed with SIGKILL
//! mid-task loses it to another, which runs it once; `certdeck health` tells live from down.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certdeck::domain::TaskType;
use certdeck::store::queue::{self, NewTask};
use certdeck::store::Db;
use sqlx::AssertSqlSafe;

struct Home {
    dir: tempfile::TempDir,
    url: String,
}

impl Home {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_certdeck"));
        c.arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env("CERTDECK_DATA_DIR", self.dir.path().join("data"))
            .env("CERTDECK_CONFIG_DIR", self.dir.path().join("config"))
            .env_remove("CERTDECK_DATABASE_URL")
            .env_remove("CERTDECK_API_KEY")
            .env_remove("CERTDECK_MASTER_KEY")
            .stdin(Stdio::null());
        c
    }

    fn count_file(&self) -> PathBuf {
        self.dir.path().join("runs.txt")
    }

    /// Starts a daemon; its output goes to `<name>.log`.
    fn daemon(&self, name: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut c = self.cmd(&["--serve-scheduler"]);
        c.env("CERTDECK_TESTKIT_COUNT_FILE", self.count_file())
            .env("CERTDECK_SCHEDULER_CONCURRENCY", "4")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn().expect("start certdeck --serve-scheduler")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// `(task, attempt, pid)` per counted run.
    fn runs(&self) -> Vec<(i64, i64, u32)> {
        std::fs::read_to_string(self.count_file())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect()
    }
}

/// A migrated MariaDB database with an admin (`certdeck init`), and its test handle.
async fn setup() -> Option<(common::TestDb, Home)> {
    let t = common::empty_mysql().await?;
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
        url: t.url.clone(),
    };
    let out = home.cmd(&["init"]).output().unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    Some((t, home))
}

async fn enqueue(db: &Db, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let t = NewTask::system(TaskType::MonitorCheck, (i % 10) as i32 + 1, None);
        ids.push(queue::enqueue(db, &t, None).await.unwrap());
    }
    ids
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    certdeck::on_db!(db, p => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string())).fetch_one(p).await).unwrap()
}

async fn wait_for(db: &Db, sql: &str, want: i64, limit: Duration) -> i64 {
    let start = Instant::now();
    loop {
        let n = scalar(db, sql).await;
        if n >= want || start.elapsed() > limit {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig}");
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn health(home: &Home) -> (i32, String) {
    let o = home.cmd(&["health"]).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn three_daemons_run_2000_tasks_exactly_once_and_stop_on_sigterm() {
    let Some((t, home)) = setup().await else { return };
    let (code, out) = health(&home);
    assert_eq!(code, 2, "no scheduler yet: down\n{out}");
    let ids = enqueue(&t.db, 2000).await;
    let mut daemons: Vec<Child> = (0..3).map(|i| home.daemon(&format!("d{i}"), &[])).collect();
    let done = wait_for(
        &t.db,
        "SELECT COUNT(*) FROM tasks WHERE status = 'completed'",
        2000,
        Duration::from_secs(240),
    )
    .await;
    let (code, out) = health(&home);
    for d in &daemons {
        signal(d, "TERM");
    }
    for (i, d) in daemons.iter_mut().enumerate() {
        let st = wait_exit(d, Duration::from_secs(30)).unwrap_or_else(|| panic!("d{i} did not stop on SIGTERM"));
        assert!(st.success(), "d{i} exit {st:?}: {}", home.log(&format!("d{i}")));
    }
    assert_eq!(done, 2000, "completed tasks; logs:\n{}", home.log("d0"));
    assert_eq!(code, 0, "three live daemons and an empty queue: ok\n{out}");
    assert!(out.contains("3 live"), "{out}");

    let runs = home.runs();
    let mut per_task: HashMap<i64, usize> = HashMap::new();
    for (task, _, _) in &runs {
        *per_task.entry(*task).or_default() += 1;
    }
    assert_eq!(per_task.len(), 2000, "every task ran");
    let twice: Vec<_> = per_task.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "tasks run more than once: {twice:?}");
    assert_eq!(
        per_task.keys().copied().collect::<HashSet<_>>(),
        ids.into_iter().collect(),
        "the enqueued ids"
    );
    let pids: HashSet<u32> = runs.iter().map(|r| r.2).collect();
    assert!(pids.len() >= 2, "the work was shared between processes: {pids:?}");

    let stopped = scalar(
        &t.db,
        "SELECT COUNT(*) FROM certdeck_schedulers WHERE stopped_at IS NOT NULL",
    )
    .await;
    assert_eq!(stopped, 3, "each daemon recorded its clean stop");
    let (code, out) = health(&home);
    assert_eq!(code, 2, "all stopped: down\n{out}");
    assert!(out.contains("certdeck --serve-scheduler"), "says what to do: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_daemons_task_is_taken_over_and_runs_once() {
    let Some((t, home)) = setup().await else { return };
    let id = enqueue(&t.db, 1).await[0];
    // A slow run (50 × 200 ms) under a 3-second lease.
    let slow = [
        ("CERTDECK_TESTKIT_STEPS", "50"),
        ("CERTDECK_TESTKIT_STEP_MS", "200"),
        ("CERTDECK_SCHEDULER_LEASE_SECS", "3"),
    ];
    let mut a = home.daemon("a", &slow);
    let running = wait_for(
        &t.db,
        "SELECT COUNT(*) FROM tasks WHERE status = 'running'",
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(running, 1, "a claimed the task: {}", home.log("a"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&a, "KILL");
    wait_exit(&mut a, Duration::from_secs(10)).expect("killed");
    let progress = scalar(&t.db, &format!("SELECT progress FROM tasks WHERE id = {id}")).await;
    assert!(progress > 0 && progress < 100, "killed mid-task (progress {progress}%)");

    let fast = [("CERTDECK_SCHEDULER_LEASE_SECS", "3")];
    let mut b = home.daemon("b", &fast);
    let done = wait_for(
        &t.db,
        "SELECT COUNT(*) FROM tasks WHERE status = 'completed'",
        1,
        Duration::from_secs(60),
    )
    .await;
    signal(&b, "TERM");
    wait_exit(&mut b, Duration::from_secs(30)).expect("b stops");
    assert_eq!(done, 1, "b took the task over: {}", home.log("b"));
    let runs = home.runs();
    assert_eq!(runs.len(), 1, "counted once: {runs:?}");
    assert_eq!((runs[0].0, runs[0].1), (id, 2), "the second attempt, by b");
    assert_eq!(runs[0].2, b.id(), "run by b's process");
    let expired = scalar(
        &t.db,
        &format!("SELECT COUNT(*) FROM task_logs WHERE task_id = {id} AND message LIKE '%lease of worker%expired%'"),
    )
    .await;
    assert_eq!(expired, 1, "the takeover is logged on the task");
}
