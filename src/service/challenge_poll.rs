//! The servers with challenge files waiting for their pull agent, polled once per process for
//! every agent long-polling in it (a leaf: the services hold one, the agent routes wait on it).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::store::agents as store;

/// How often the process's challenge poll looks, while an agent waits.
const POLL_EVERY: Duration = Duration::from_millis(400);

/// The servers with challenge files waiting, polled once for every agent long-polling in this
/// process (one query every [`POLL_EVERY`] while any agent waits, none otherwise), instead of
/// one query per waiting agent: a thousand looping agents cost one query, not a thousand.
#[derive(Default)]
pub struct ChallengePoll {
    tx: std::sync::OnceLock<std::sync::Arc<tokio::sync::watch::Sender<std::sync::Arc<BTreeSet<i64>>>>>,
}

impl ChallengePoll {
    /// A receiver of the waiting servers, starting the poll on first use.
    pub(crate) fn subscribe(
        &self,
        db: &crate::store::Db,
    ) -> tokio::sync::watch::Receiver<std::sync::Arc<BTreeSet<i64>>> {
        let tx = self.tx.get_or_init(|| {
            let (tx, _) = tokio::sync::watch::channel(std::sync::Arc::new(BTreeSet::new()));
            let tx = std::sync::Arc::new(tx);
            let (poll, db) = (std::sync::Arc::downgrade(&tx), db.clone());
            tokio::spawn(async move {
                // Ends when the services (and with them the sender) are gone.
                while let Some(tx) = poll.upgrade() {
                    if tx.receiver_count() > 0 {
                        match store::servers_with_pending_challenges(&db).await {
                            Ok(set) => {
                                tx.send_replace(std::sync::Arc::new(set));
                            }
                            Err(e) => tracing::warn!("polling agent challenges failed: {e}"),
                        }
                    }
                    drop(tx);
                    tokio::time::sleep(POLL_EVERY).await;
                }
            });
            tx
        });
        tx.subscribe()
    }
}
