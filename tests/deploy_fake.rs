//! The deploy service over a fake transport (no test bed): the "host" is a temporary
//! directory reached through local files and `sh`, its "web server" serves whatever its reload
//! copied, and its config test fails unless the old certificate is in place. Shows what the
//! service records when a step fails: the old pair put back, the deployment failed with the
//! reason and the rollback, the task failed; and, when all goes well, the new pair served.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certdeck::domain::{AuthType, DeploymentStatus, PrivilegeMode, ServerType, TaskStatus, TaskType, UserRole};
use certdeck::engine::deploy::{BoxFut, CommandOutput, Entry, Files, Hosts, RemoteStat, StepError, Transport};
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::{DeployRunner, DeployTarget, ServerAccess};
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::{RunReport, Runners};
use certdeck::service::{Actor, Services};
use certdeck::store::servers::ServerRow;
use common::{make_user, services_with, TestDb};

/// The host: a directory on this machine.
struct LocalHost {
    /// What the web server serves (its reload copies the certificate here).
    served: PathBuf,
}

impl ServerAccess for LocalHost {
    fn open<'a>(&'a self, _svc: &'a Services, _servers: Vec<ServerRow>) -> Box<dyn Hosts + 'a> {
        Box::new(LocalHosts { served: &self.served })
    }
}

struct LocalHosts<'a> {
    served: &'a Path,
}

impl Hosts for LocalHosts<'_> {
    fn connect<'a>(&'a self, _entry: &'a Entry) -> BoxFut<'a, Result<Arc<dyn Transport>, StepError>> {
        Box::pin(async { Ok(Arc::new(LocalShell) as Arc<dyn Transport>) })
    }

    fn served_leaf<'a>(
        &'a self,
        _h: &'a str,
        _p: u16,
        _sni: &'a str,
        _t: Duration,
    ) -> BoxFut<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let pem = std::fs::read(self.served).map_err(|e| format!("nothing served: {e}"))?;
            Ok(certdeck::domain::certpem::certificates_der(&pem)?.remove(0))
        })
    }
}

/// Commands through the local `sh`, files through the local file system.
struct LocalShell;

impl Transport for LocalShell {
    fn exec<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(async move {
            let out = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .output()
                .await
                .map_err(|e| StepError::new(e.to_string()))?;
            Ok(CommandOutput {
                code: i64::from(out.status.code().unwrap_or(-1)),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                truncated: false,
            })
        })
    }

    fn run<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(async move {
            let out = self.exec(command).await?;
            if out.code != 0 {
                return Err(StepError::new(format!(
                    "command `{command}` exited with {}: {}",
                    out.code,
                    out.excerpt(400)
                )));
            }
            Ok(out)
        })
    }

    fn files(&self) -> BoxFut<'_, Result<Box<dyn Files + '_>, StepError>> {
        Box::pin(async { Ok(Box::new(LocalFiles) as Box<dyn Files>) })
    }
}

struct LocalFiles;

impl Files for LocalFiles {
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>> {
        Box::pin(async move {
            Ok(std::fs::symlink_metadata(path).ok().map(|m| RemoteStat {
                size: m.len(),
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                is_dir: m.is_dir(),
            }))
        })
    }

    fn read<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            let data = std::fs::read(path).map_err(|e| StepError::new(format!("read {path}: {e}")))?;
            Ok((data.len() as u64 <= max).then_some(data))
        })
    }

    fn write<'a>(&'a self, path: &'a str, data: &'a [u8], mode: u32) -> BoxFut<'a, Result<(), StepError>> {
        Box::pin(async move {
            std::fs::write(path, data).map_err(|e| StepError::new(format!("write {path}: {e}")))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| StepError::new(format!("chmod {path}: {e}")))
        })
    }
}

/// A self-signed certificate and key for `name`, as PEM.
fn make_cert(name: &str) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

fn serial(pem: &str) -> String {
    let der = certdeck::domain::certpem::certificates_der(pem.as_bytes())
        .unwrap()
        .remove(0);
    certdeck::domain::certpem::serial_hex(&der).unwrap()
}

struct Site {
    s: Services,
    a: Actor,
    _t: TestDb,
    dir: tempfile::TempDir,
    cert: String,
    key: String,
    old: (String, String),
    new_serial: String,
    deployment: i64,
    cert_id: i64,
}

/// A certificate in certdeck, and a "host" serving an older pair at the deployment's paths.
/// The config test accepts only the old certificate when `test_rejects_new`.
async fn site(test_rejects_new: bool) -> Site {
    common::init();
    let t = common::sqlite().await;
    let s = services_with(&t, common::keyring());
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).display().to_string();
    let (cert, key, old_copy, served) = (path("site.crt"), path("site.key"), path("old.crt"), path("served.pem"));
    let old = make_cert("fake.example.test");
    std::fs::write(&cert, &old.0).unwrap();
    std::fs::write(&key, &old.1).unwrap();
    std::fs::write(&old_copy, &old.0).unwrap();
    std::fs::write(&served, &old.0).unwrap();
    let test = if test_rejects_new {
        format!("cmp -s {cert} {old_copy} || {{ echo 'nginx: [emerg] cannot load certificate' >&2; exit 1; }}")
    } else {
        "true".to_string()
    };
    let srv = s
        .server_create(
            &a,
            &ServerInput {
                name: Some("fake".into()),
                hostname: Some("fake-host.example.test".into()),
                port: Some(22),
                server_type: Some(ServerType::Nginx),
                username: Some("deploy".into()),
                auth_type: Some(AuthType::Password),
                password: Some("unused".into()),
                privilege_mode: Some(PrivilegeMode::None),
                test_command: Some(test),
                reload_command: Some(format!("cp {cert} {served}")),
                verify_port: Some(443),
                ..Default::default()
            },
        )
        .await
        .expect("server");
    let new = make_cert("fake.example.test");
    let c = s
        .cert_import(
            &a,
            &ImportInput {
                certificate: new.0.as_bytes().to_vec(),
                private_key: new.1.as_bytes().to_vec(),
                ..Default::default()
            },
        )
        .await
        .expect("import");
    let d = s
        .deployment_create_with(
            &a,
            c.id,
            srv.id,
            &DeploymentInput {
                deploy_path: cert.clone(),
                key_path: Some(key.clone()),
                verify_sni: Some("fake.example.test".into()),
                ..Default::default()
            },
        )
        .await
        .expect("deployment");
    Site {
        s,
        a,
        _t: t,
        new_serial: serial(&new.0),
        old,
        cert,
        key,
        deployment: d.id,
        cert_id: c.id,
        dir,
    }
}

impl Site {
    fn runners(&self) -> Runners {
        let host = LocalHost {
            served: self.dir.path().join("served.pem"),
        };
        let runner = DeployRunner::with_access(Arc::new(host));
        Runners::default().with(TaskType::CertificateDeploy, Arc::new(runner))
    }

    async fn deploy(&self) -> (RunReport, certdeck::service::tasks::TaskDetail) {
        let t = self
            .s
            .deploy_enqueue(&self.a, self.cert_id, DeployTarget::All)
            .await
            .expect("enqueue");
        let report = self
            .s
            .task_run_here(&self.a, t.id, &self.runners())
            .await
            .expect("run")
            .expect("ran here");
        (report, self.s.task_get(&self.a, t.id).await.unwrap())
    }

    /// The names left in the host's directory that certdeck made (backups, temporaries, records).
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".certdeck-"))
            .collect();
        v.sort();
        v
    }
}

#[tokio::test]
async fn failed_config_test_restores_the_old_pair_and_records_why() {
    let w = site(true).await;
    let (report, task) = w.deploy().await;
    assert!(matches!(report, RunReport::Failed(_)), "{report:?}");
    assert_eq!(task.task.status, TaskStatus::Failed);
    let msg = task.task.error_message.unwrap_or_default();
    assert!(msg.contains("1 of 1 deployment(s) failed"), "{msg}");

    // Exactly the old pair is back, and served again after the rollback's reload.
    assert_eq!(std::fs::read_to_string(&w.cert).unwrap(), w.old.0);
    assert_eq!(std::fs::read_to_string(&w.key).unwrap(), w.old.1);
    let served = std::fs::read_to_string(w.dir.path().join("served.pem")).unwrap();
    assert_eq!(served, w.old.0);
    // No temporary file nor transaction record is left; the backups of the old pair are.
    let old_serial = serial(&w.old.0);
    let d = w.deployment;
    assert_eq!(
        w.leftovers(),
        vec![
            format!("site.crt.certdeck-bak-{d}-{old_serial}"),
            format!("site.key.certdeck-bak-{d}-{old_serial}"),
        ]
    );

    // The deployment is failed, with the step that failed and what the rollback did.
    let row = w.s.deployment_get(&w.a, w.deployment).await.unwrap();
    assert_eq!(row.status, DeploymentStatus::Failed);
    let err = row.error_message.unwrap_or_default();
    assert!(err.contains("config test failed"), "{err}");
    assert!(err.contains("cannot load certificate"), "{err}");
    assert!(err.contains("rolled back: old files restored"), "{err}");
    assert!(
        err.contains(&format!("the old certificate (serial {old_serial}) is served again")),
        "{err}"
    );
    assert_eq!(row.deployed_serial, None);

    // The task log tells the story step by step.
    let logs: Vec<String> =
        w.s.task_logs(&w.a, task.task.id, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.message)
            .collect();
    let has = |s: &str| logs.iter().any(|l| l.contains(s));
    assert!(has("uploaded"), "{logs:#?}");
    assert!(has("backed up the current files"), "{logs:#?}");
    assert!(has("swapped into"), "{logs:#?}");
    assert!(has("rolling back"), "{logs:#?}");
    assert!(has("restored the previous files"), "{logs:#?}");
}

#[tokio::test]
async fn a_clean_deploy_serves_the_new_pair_and_keeps_one_backup() {
    let w = site(false).await;
    let (report, task) = w.deploy().await;
    assert_eq!(report, RunReport::Completed, "{:?}", task.task.error_message);
    let served = std::fs::read_to_string(w.dir.path().join("served.pem")).unwrap();
    assert_eq!(serial(&served), w.new_serial);
    let row = w.s.deployment_get(&w.a, w.deployment).await.unwrap();
    assert_eq!(row.status, DeploymentStatus::Deployed);
    assert_eq!(row.deployed_serial.as_deref(), Some(w.new_serial.as_str()));
    let key_mode = std::fs::metadata(&w.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600);
    let old_serial = serial(&w.old.0);
    let d = w.deployment;
    assert_eq!(
        w.leftovers(),
        vec![
            format!("site.crt.certdeck-bak-{d}-{old_serial}"),
            format!("site.key.certdeck-bak-{d}-{old_serial}"),
        ]
    );
}
