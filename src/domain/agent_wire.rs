//! What the pull agent and the API say to each other (`/api/v1/agent/…`): plain serde types
//! that both sides share, so the two cannot drift. The agent's token travels as
//! `Authorization: Bearer cdt_<server id>_<secret>`.

use serde::{Deserialize, Serialize};

use super::ServerType;

/// The prefix of an agent token.
pub const TOKEN_PREFIX: &str = "cdt_";

/// Seconds an agent may long-poll `GET /agent/challenges?wait=` at most.
pub const MAX_CHALLENGE_WAIT_SECS: u64 = 30;

/// The shortest and longest interval an agent may report.
pub const INTERVAL_RANGE: std::ops::RangeInclusive<i32> = 5..=86_400;

/// Splits an agent token into its server id and secret; `None` when it is not one.
pub fn parse_token(token: &str) -> Option<(i64, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id.parse().ok().filter(|i| *i > 0)?;
    (!secret.is_empty() && secret.len() <= 200).then_some((id, secret))
}

/// The token an agent presents for a server's secret.
pub fn compose_token(server_id: i64, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{server_id}_{secret}")
}

/// A check-in: who the agent is and what it found on its host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkin {
    /// The agent's version (`certdeck --version`).
    pub agent_version: String,
    /// Seconds between its runs (a timer's period, or the loop's interval).
    pub interval_seconds: i32,
    /// OS name from `/etc/os-release`.
    pub os_type: Option<String>,
    /// OS version from `/etc/os-release`.
    pub os_version: Option<String>,
    /// The web server found (`nginx` or `apache`), if any.
    pub server_type: Option<ServerType>,
    /// The web server's version line (`nginx/1.22.1`).
    pub web_server_version: Option<String>,
}

/// The server entry as the agent needs it: where its config is and the commands to run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentServer {
    /// Server id.
    pub id: i64,
    /// Display name (or host name).
    pub label: String,
    /// nginx, apache or other.
    pub server_type: ServerType,
    /// Main web server config file (`None`: the defaults of its type).
    pub config_root: Option<String>,
    /// The config test command of the server entry, as run (privilege applied).
    pub test_command: Option<String>,
    /// The reload command of the server entry, as run (privilege applied).
    pub reload_command: Option<String>,
}

/// A deployment the agent is to install.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentDeployment {
    /// Deployment id.
    pub id: i64,
    /// Certificate id.
    pub certificate_id: i64,
    /// The certificate's main domain.
    pub domain: String,
    /// Where the full chain goes.
    pub cert_path: String,
    /// Where the private key goes.
    pub key_path: String,
    /// Verification handshake: host (the agent's own loopback unless the deployment names one).
    pub verify_host: String,
    /// Verification handshake: port.
    pub verify_port: u16,
    /// Verification handshake: SNI.
    pub verify_sni: String,
    /// The serial certdeck records as deployed here, if any (a retry checks it by handshake).
    pub deployed_serial: Option<String>,
}

/// An http-01 challenge file to place or remove.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentChallenge {
    /// Id.
    pub id: i64,
    /// `place` or `remove`.
    pub action: String,
    /// Document root (the file goes to `<webroot>/.well-known/acme-challenge/<token>`).
    pub webroot: String,
    /// The challenge token (the file name).
    pub token: String,
    /// The file's content (public: the CA fetches it over plain HTTP).
    pub key_authorization: String,
}

/// What the API answers a check-in with: the server entry and the work waiting.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentWork {
    /// The server entry.
    pub server: AgentServer,
    /// Deployments to install (status `pending`).
    pub deployments: Vec<AgentDeployment>,
    /// Challenge files to place or remove.
    pub challenges: Vec<AgentChallenge>,
}

/// A certificate and its key for one deployment of the agent's server.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentMaterial {
    /// Deployment id.
    pub deployment_id: i64,
    /// Serial (lowercase hex).
    pub serial: String,
    /// Certificate and chain, PEM.
    pub fullchain_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for AgentMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentMaterial")
            .field("deployment_id", &self.deployment_id)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// How an install ended, as the agent reports it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployReport {
    /// The serial installed (or attempted).
    pub serial: String,
    /// `None`: installed and served; else why it failed (with what the rollback did).
    pub error: Option<String>,
    /// An earlier attempt had already installed it (checked by a handshake).
    pub skipped: bool,
    /// The install's log lines (at most 200 are kept).
    pub log: Vec<String>,
}

/// How placing or removing a challenge file ended.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeReport {
    /// `None`: done; else why not.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_own_form() {
        let t = compose_token(42, "abc-DEF_123");
        assert_eq!(parse_token(&t), Some((42, "abc-DEF_123")));
        for bad in [
            "",
            "cdt_",
            "cdt_42",
            "cdt_42_",
            "cdt_x_abc",
            "cdt_-1_abc",
            "cdt_0_abc",
            "cdk_42_abc",
            "42_abc",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }
}
