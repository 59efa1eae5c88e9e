//! [`LiveLookup`]: the identification pipeline's live lookup (`crate::identify::live`)
//! over the till's signed client — `POST /v1/lookup` — with a hard time budget.
//!
//! The request runs on the async runtime; the scan's blocking thread waits for it at most
//! the budget (`recv_timeout`), then drops it. Whatever goes wrong — no route to central,
//! a refused connection, a central that accepts and never answers, an error status, an
//! answer about another subject — is "no answer": the caller falls back to the token's
//! snapshot.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tillpass_protocol::sync::{LookupAnswer, LookupKind, LookupRequest, Subject, paths};

use super::CentralClient;
use crate::identify::live::Lookup;

/// The live lookup over a signed client.
#[derive(Debug)]
pub struct LiveLookup {
    client: Arc<CentralClient>,
    runtime: tokio::runtime::Handle,
    budget: Duration,
}

impl LiveLookup {
    /// Asks through `client` on `runtime`, waiting at most `budget` per lookup.
    pub fn new(
        client: Arc<CentralClient>,
        runtime: tokio::runtime::Handle,
        budget: Duration,
    ) -> LiveLookup {
        LiveLookup {
            client,
            runtime,
            budget,
        }
    }

    /// The budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

impl Lookup for LiveLookup {
    fn lookup(&self, kind: LookupKind, subject: &str) -> Option<LookupAnswer> {
        let started = Instant::now();
        let subject = Subject::new(subject).ok()?;
        let request = LookupRequest {
            kind,
            subject: subject.clone(),
        };
        let body = serde_json::to_vec(&request).ok()?;
        let (tx, rx) = mpsc::sync_channel(1);
        let client = self.client.clone();
        let budget = self.budget;
        let task = self.runtime.spawn(async move {
            let answer = tokio::time::timeout(
                budget,
                client.send("POST", paths::LOOKUP, body, Some("application/json"), None),
            )
            .await;
            let _ = tx.send(answer);
        });
        let outcome = rx.recv_timeout(budget);
        task.abort();
        let answer = match outcome {
            Ok(Ok(Ok(answer))) if answer.is_success() => answer,
            Ok(Ok(Ok(answer))) => {
                tracing::info!(
                    status = answer.status,
                    "live lookup refused: using the token's snapshot"
                );
                return None;
            }
            Ok(Ok(Err(e))) => {
                tracing::info!(error = %e, "live lookup failed: using the token's snapshot");
                return None;
            }
            Ok(Err(_)) | Err(_) => {
                tracing::info!(
                    budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                    "central did not answer the live lookup in time: using the token's snapshot"
                );
                return None;
            }
        };
        let parsed: LookupAnswer = answer.json("lookup answer").ok()?;
        if parsed.kind != kind || parsed.subject != subject {
            tracing::warn!("central's lookup answer is about another subject: ignored");
            return None;
        }
        tracing::debug!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            found = parsed.found,
            "live lookup answered"
        );
        Some(parsed)
    }
}
