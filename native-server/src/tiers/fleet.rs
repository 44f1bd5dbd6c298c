//! Changes of originals, told to every instance of a fleet.
//!
//! Instances that share a PostgreSQL metadata store share one bucket of originals, but each
//! keeps its own memory and warm tiers. When an original is stored, replaced, deleted or
//! purged through one instance, that instance forgets its own copies at once and announces the
//! change with `NOTIFY` on [`crate::index::FLEET_CHANNEL`]; every instance listens
//! ([`listen`]) and forgets its copies too: memory entries of the original, warm files of the
//! variants named, and (through [`super::fresh::Freshness`]) the trust in any copy confirmed
//! before it heard of the change. The channel proves itself with a round trip every third of
//! `cache.notify_window_ms`; while it is down or unproven, every hit checks its original.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::AsyncMessage;

use super::Chain;
use crate::runtime::background::Stop;

/// Most variant ids in one notification (PostgreSQL's payload limit is 8000 bytes: 150 ids
/// and a 1 KiB key fit).
const IDS_PER_NOTE: usize = 150;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The original's key, or with `prefix` every original under it.
    pub key: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefix: bool,
    /// Variant ids whose stored copies were removed (warm files to delete too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl Chain {
    /// Forgets this instance's copies for `note` now: memory entries, warm files named, and
    /// the trust in anything confirmed before.
    pub(super) async fn forget(&self, note: &Note) {
        if note.prefix {
            self.fresh.changed_under(&note.key);
            let prefix = note.key.as_str();
            self.memory
                .remove_where(|v| v.key.key().starts_with(prefix));
        } else {
            self.fresh.changed(&note.key);
            self.memory.remove_where(|v| v.key.key() == note.key);
            // A read here just before another instance deleted it must not register the
            // original again at this instance's next flush of access times.
            self.access
                .forget(&crate::index::Record::original_id(&note.key));
        }
        for id in &note.ids {
            self.memory.remove(id);
            self.warm_drop(id).await;
        }
    }

    /// Forgets here, then tells the other instances (when the metadata store is shared).
    pub(super) async fn announce(&self, mut note: Note) {
        self.forget(&note).await;
        let Some(index) = self.index.as_ref().filter(|i| i.shared()) else {
            return;
        };
        let ids = std::mem::take(&mut note.ids);
        let mut chunks: Vec<Vec<String>> = ids.chunks(IDS_PER_NOTE).map(<[_]>::to_vec).collect();
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        for ids in chunks {
            let payload = Note {
                ids,
                ..note.clone()
            };
            let payload = serde_json::to_string(&payload).unwrap_or_default();
            if let Err(e) = index.notify(&payload).await {
                // The others notice within `cache.revalidate_secs` (their hits check the
                // original's version once their confirmation is that old).
                metrics::counter!(crate::metrics::FLEET_NOTES, "direction" => "failed")
                    .increment(1);
                tracing::warn!("announcing a change of {:?} to the fleet: {e}", note.key);
            } else {
                metrics::counter!(crate::metrics::FLEET_NOTES, "direction" => "sent").increment(1);
            }
        }
    }
}

/// Listens on the fleet channel until the connection fails or `stop` is asked for, applying
/// every note to `chain` and proving the channel every third of `window`. Run it in a loop
/// (the server's background runner restarts it after a pause): each run starts distrusting
/// everything confirmed before it, since notes may have been missed while it was down.
pub async fn listen(chain: Arc<Chain>, url: String, window: Duration, stop: Stop) {
    if let Err(e) = listen_once(&chain, &url, window, &stop).await {
        tracing::warn!("fleet channel: {e}");
    }
    chain.fresh.channel_down();
}

async fn listen_once(
    chain: &Chain,
    url: &str,
    window: Duration,
    stop: &Stop,
) -> Result<(), String> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    // The connection is driven here: notes go into a queue in the order they arrive, before
    // the answer to any later query, so after a round trip the queue holds every note sent
    // before it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("fleet channel connection: {e}");
                    break;
                }
            }
        }
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {}", crate::index::FLEET_CHANNEL))
            .await
            .map_err(|e| e.to_string())?;
        chain.fresh.channel_up();
        tracing::info!("fleet channel listening");
        let every = (window / 3).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                note = rx.recv() => match note {
                    Some(payload) => apply(chain, &payload).await,
                    None => return Err("the connection closed".to_owned()),
                },
                _ = tick.tick() => {
                    if stop.requested() {
                        return Ok(());
                    }
                    let proof = tokio::time::timeout(window.max(every), client.simple_query("SELECT 1"));
                    match proof.await {
                        Ok(Ok(_)) => {
                            while let Ok(payload) = rx.try_recv() {
                                apply(chain, &payload).await;
                            }
                            chain.fresh.channel_proven();
                        }
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("no answer within the window".to_owned()),
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

async fn apply(chain: &Chain, payload: &str) {
    match serde_json::from_str::<Note>(payload) {
        Ok(note) => {
            metrics::counter!(crate::metrics::FLEET_NOTES, "direction" => "received").increment(1);
            chain.forget(&note).await;
        }
        Err(e) => {
            // From a newer version, or not from Refract: forget everything, to be safe.
            tracing::warn!("unreadable fleet note ({e}): distrusting every cached copy");
            chain.fresh.changed_under("");
            chain.memory.remove_where(|_| true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_fit_in_a_notification() {
        let note = Note {
            key: "k".repeat(refract_core::url::MAX_KEY_BYTES),
            prefix: false,
            ids: vec!["0123456789abcdef0123456789abcdef".to_owned(); IDS_PER_NOTE],
        };
        let json = serde_json::to_string(&note).expect("json");
        assert!(json.len() < 8000, "{}", json.len());
        assert_eq!(serde_json::from_str::<Note>(&json).expect("back"), note);
        let bare = Note {
            key: "a.jpg".into(),
            prefix: false,
            ids: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&bare).expect("json"),
            r#"{"key":"a.jpg"}"#
        );
    }
}
