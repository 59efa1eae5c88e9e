//! The admin API calls of a run: enrolment codes and customers to set it up, and the pass
//! requests the chat makes while it runs.

use std::time::Instant;

use anyhow::{Context, bail};
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::json;

use crate::stats::{Failure, Kind, Stats};

/// The admin API of one central deployment.
#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
    central: String,
    bearer: String,
}

#[derive(Deserialize)]
struct IssuedCode {
    code: String,
}

impl Admin {
    /// The admin API at `central`, with its bearer token.
    pub fn new(http: reqwest::Client, central: &str, token: &str) -> Admin {
        Admin {
            http,
            central: central.trim_end_matches('/').to_owned(),
            bearer: format!("Bearer {}", token.trim()),
        }
    }

    /// A one-time enrolment code for `till` of `store`.
    pub async fn enrolment_code(&self, store: &str, till: &str) -> anyhow::Result<String> {
        let body = json!({ "store": store, "till": till });
        let answer = self.post("/admin/v1/enrolment-codes", &body).await?;
        let issued: IssuedCode = serde_json::from_slice(&answer).context("enrolment code")?;
        Ok(issued.code)
    }

    /// Creates customer `reference` with an opening savings balance; an existing one (a
    /// run before this one) is fine.
    pub async fn customer(&self, reference: &str) -> anyhow::Result<()> {
        let body = json!({
            "customer": reference,
            "first_name": "Carga",
            "savings": 500,
        });
        match self.post("/admin/v1/customers", &body).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("409") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Issues a fresh pass for `customer`, recorded as `pass`.
    pub async fn pass(&self, customer: &str, stats: &Stats) {
        let started = Instant::now();
        let url = format!("{}/v1/customers/{customer}/pass", self.central);
        let answer = self
            .http
            .post(url)
            .header(AUTHORIZATION, &self.bearer)
            .json(&json!({}))
            .send()
            .await;
        match answer {
            Ok(a) if a.status().is_success() => match a.bytes().await {
                Ok(body) => stats.ok(Kind::Pass, started.elapsed(), body.len()),
                Err(_) => stats.failed(Kind::Pass, Failure::Network),
            },
            Ok(a) => stats.failed(Kind::Pass, Failure::Status(a.status().as_u16())),
            Err(_) => stats.failed(Kind::Pass, Failure::Network),
        }
    }

    async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
        let answer = self
            .http
            .post(format!("{}{path}", self.central))
            .header(AUTHORIZATION, &self.bearer)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = answer.status();
        let bytes = answer.bytes().await.context("answer")?.to_vec();
        if !status.is_success() {
            bail!(
                "POST {path}: {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes)
    }
}
