//! The channel's HTTP routes.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/webhooks/whatsapp` | Meta's verification: `hub.challenge` when `hub.verify_token` matches, else `403` |
//! | `POST` | `/webhooks/whatsapp` | a delivery: `401` without a good `X-Hub-Signature-256` (nothing stored), `200` once stored |
//! | `GET` | `/admin/v1/whatsapp/status` | inbox and outbox depths, dead letters, Meta's last error |
//! | `GET` | `/admin/v1/customers/{ref}/consents` | a customer's consent evidence |
//! | `PUT` | `/admin/v1/gift-cards/{card}/owner` | `{customer}`: who owns a gift card (`null`: nobody); a change of the card, sent to its owner's stores |
//! | `GET` | `/admin/v1/whatsapp/poster.png`, `.svg` | the click-to-chat QR (`?text=` the first message) |
//!
//! The webhook routes exist when the channel is configured; the admin ones always (behind
//! the admin token).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::json;
use tillpass_protocol::problem::ErrorCode;

use super::{Refusal, poster, store};
use crate::error::Error;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::limits::{Limited, MAX_ADMIN_JSON_BYTES};
use crate::http::{AppState, Problem};
use crate::storage::Database;

/// The largest delivery accepted: Meta's are far smaller.
pub const MAX_DELIVERY_BYTES: usize = 1024 * 1024;

type Answer = Result<Response, Problem>;

/// The webhook routes (when `state` has a channel).
pub fn webhook(state: &AppState) -> Router<AppState> {
    if state.whatsapp.is_none() {
        return Router::new();
    }
    Router::new().route("/webhooks/whatsapp", get(verify).post(deliver))
}

/// The admin routes; the caller puts them behind the admin guard.
pub fn admin() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/whatsapp/status", get(status))
        .route("/admin/v1/customers/{customer}/consents", get(consents))
        .route("/admin/v1/gift-cards/{card}/owner", put(set_owner))
        .route("/admin/v1/whatsapp/poster.png", get(poster_png))
        .route("/admin/v1/whatsapp/poster.svg", get(poster_svg))
}

#[derive(Debug, Deserialize)]
struct Verification {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn verify(State(s): State<AppState>, ApiQuery(q): ApiQuery<Verification>) -> Answer {
    let channel = s.whatsapp.as_ref().ok_or_else(not_configured)?;
    match channel.verify(
        q.mode.as_deref(),
        q.token.as_deref(),
        q.challenge.as_deref(),
    ) {
        Some(challenge) => Ok(([(header::CONTENT_TYPE, "text/plain")], challenge).into_response()),
        None => Err(Problem::new(
            ErrorCode::Forbidden,
            "the verify token does not match",
        )),
    }
}

async fn deliver(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Limited<MAX_DELIVERY_BYTES>,
) -> Answer {
    let channel = s.whatsapp.as_ref().ok_or_else(not_configured)?;
    let signature = headers
        .get(super::signature::HEADER)
        .and_then(|v| v.to_str().ok());
    match channel.receive(&body.bytes, signature).await {
        Ok(_) => Ok(Json(json!({"received": true})).into_response()),
        Err(Refusal::Signature) => {
            tracing::warn!("whatsapp: a delivery with a bad or missing signature was refused");
            Err(Problem::new(
                ErrorCode::BadSignature,
                "X-Hub-Signature-256 is missing or does not match the body",
            ))
        }
        Err(Refusal::Body(e)) => Err(Problem::new(ErrorCode::MalformedJson, e.to_string())),
        Err(Refusal::Storage(e)) => Err(Problem::from(e)),
    }
}

fn not_configured() -> Problem {
    Problem::new(ErrorCode::NotFound, "no such endpoint")
}

fn database(s: &AppState) -> Database {
    s.whatsapp
        .as_ref()
        .map_or_else(|| s.db.clone(), |c| c.db().clone())
}

async fn status(State(s): State<AppState>) -> Answer {
    let report = store::status(&database(&s)).await?;
    let counters = s.whatsapp.as_ref().map(|c| {
        use std::sync::atomic::Ordering::Relaxed;
        let n = c.counters();
        json!({
            "deliveries": n.deliveries.load(Relaxed),
            "bad_signatures": n.bad_signatures.load(Relaxed),
            "handled": n.handled.load(Relaxed),
            "sent": n.sent.load(Relaxed),
            "send_failures": n.send_failures.load(Relaxed),
        })
    });
    Ok(Json(json!({"channel": report, "counters": counters})).into_response())
}

async fn consents(State(s): State<AppState>, ApiPath(customer): ApiPath<String>) -> Answer {
    let db = database(&s);
    let evidence = store::evidence(&db, &customer).await?;
    if evidence.is_empty() {
        return Err(Problem::new(
            ErrorCode::CustomerNotFound,
            "no consent evidence for this customer",
        ));
    }
    let erased = evidence.iter().any(|e| e.what == "erased");
    Ok(Json(json!({
        "customer": customer,
        "evidence": evidence,
        "kept_after_erasure": erased.then_some(
            "what changed, the terms' version, the channel, the message id and the time; \
             the phone number was removed"
        ),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Owner {
    customer: Option<String>,
}

async fn set_owner(
    State(s): State<AppState>,
    ApiPath(card): ApiPath<String>,
    body: Limited<MAX_ADMIN_JSON_BYTES>,
) -> Answer {
    let owner: Owner = crate::http::extract::json(body.content_type.as_deref(), &body.bytes)?;
    let db = database(&s);
    if let Some(customer) = &owner.customer
        && db.savings(customer).await?.is_none()
    {
        return Err(Problem::new(
            ErrorCode::CustomerNotFound,
            "no such customer",
        ));
    }
    match db
        .set_gift_card_owner(&card, owner.customer.as_deref(), s.now())
        .await
    {
        Ok(_) => Ok(Json(json!({"card": card, "owner": owner.customer})).into_response()),
        Err(Error::NotFound(_)) => Err(Problem::new(ErrorCode::NotFound, "no such gift card")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PosterQuery {
    #[serde(default)]
    text: Option<String>,
}

fn poster_link(s: &AppState, q: &PosterQuery) -> Result<String, Problem> {
    let number = s
        .whatsapp
        .as_ref()
        .and_then(|c| c.config().display_number.clone())
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::NotFound,
                "the WhatsApp channel has no display_number configured",
            )
        })?;
    Ok(poster::link(
        &number,
        q.text.as_deref().unwrap_or(poster::DEFAULT_TEXT),
    )?)
}

async fn poster_png(State(s): State<AppState>, ApiQuery(q): ApiQuery<PosterQuery>) -> Answer {
    let png = poster::png(&poster_link(&s, &q)?)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn poster_svg(State(s): State<AppState>, ApiQuery(q): ApiQuery<PosterQuery>) -> Answer {
    let svg = poster::svg(&poster_link(&s, &q)?)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "image/svg+xml")],
        svg,
    )
        .into_response())
}
