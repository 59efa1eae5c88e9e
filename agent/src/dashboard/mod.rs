//! The store manager dashboard, served by the agent under `/dashboard`: server-rendered
//! HTML in Spanish and English, charts drawn as SVG on the server, one small vendored
//! script (htmx, for live search and self-refreshing panels) and one stylesheet, all inside
//! the binary — it works with the shop offline.
//!
//! ## Map
//! - this module: the [`router`], the shared state, errors, security headers, assets.
//! - [`auth`]: sign-in and lockout, sessions (HttpOnly, `SameSite=Strict` cookie), sign-out,
//!   the language switch; [`password`]: Argon2id; [`csrf`]: anti-forgery tokens.
//! - [`i18n`]: every text in both languages; [`money`]: amounts and counts as each language
//!   writes them; [`days`]: the store's local days and hours.
//! - [`queries`]: read-only SQL on connections of the dashboard's own; [`chart`]: SVG bar
//!   charts; [`csv`]: the day's transactions as a spreadsheet-safe CSV.
//! - [`layout`]: the page shell and navigation; `pages`: one module per page.
//! - [`cli`]: `tillpass manager …` (accounts, unlock).
//!
//! ## Security
//! Every page but sign-in needs a session. Passwords are Argon2id, checked on two threads
//! of the [`password::Verifier`] with a bounded queue; a guess is reserved against the
//! name's and the address's budgets before the password is looked at (five per name per 15
//! minutes from strangers, five for each address the manager signed in from; kept in
//! SQLite; see `store::managers` and `SECURITY.md`). Every form that changes anything is
//! a POST with a CSRF token; nothing the dashboard does changes a balance — its queries run
//! on read-only connections, and the only writes are sessions, failed sign-ins and the
//! manager's language. Customers appear as first name and masked reference. Responses carry
//! a strict Content-Security-Policy (scripts and styles only from the agent itself).

mod auth;
mod chart;
pub mod cli;
mod csrf;
mod csv;
mod days;
mod i18n;
mod layout;
mod money;
mod pages;
pub mod password;
mod queries;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rusqlite::Connection;
use thiserror::Error;

use crate::http::AppState;
use crate::store::StoreError;

/// Where the dashboard lives.
pub const BASE: &str = "/dashboard";
pub(crate) const LOGIN: &str = "/dashboard/login";
pub(crate) const LOGOUT: &str = "/dashboard/logout";
pub(crate) const LANG: &str = "/dashboard/lang";
pub(crate) const TODAY: &str = "/dashboard/today";
pub(crate) const TRANSACTIONS: &str = "/dashboard/transactions";
pub(crate) const CSV: &str = "/dashboard/transactions.csv";
pub(crate) const SCANS: &str = "/dashboard/scans";
pub(crate) const SYNC: &str = "/dashboard/sync";
pub(crate) const DEVICES: &str = "/dashboard/devices";
pub(crate) const PROMOTIONS: &str = "/dashboard/promotions";
pub(crate) const CSS: &str = "/dashboard/assets/dashboard.css";
pub(crate) const HTMX: &str = "/dashboard/assets/htmx-2.0.11.min.js";

const CSS_TEXT: &str = include_str!("../../assets/dashboard.css");
const HTMX_TEXT: &str = include_str!("../../assets/htmx-2.0.11.min.js");

/// The most a dashboard form may send.
const BODY_LIMIT: usize = 8 * 1024;

/// What the dashboard's handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Dash {
    /// The agent's state.
    pub app: AppState,
    /// Read-only connections.
    pub reads: Arc<queries::Reads>,
    /// The password checker: its own threads, a bounded queue.
    pub verifier: password::Verifier,
}

impl Dash {
    fn new(app: AppState, verifier: password::Verifier) -> Dash {
        let reads = Arc::new(queries::Reads::new(app.identifier.store().path()));
        Dash {
            app,
            reads,
            verifier,
        }
    }

    /// Now, unix seconds, from the agent's clock.
    pub fn now(&self) -> i64 {
        i64::try_from(self.app.identifier.clock().now()).unwrap_or(i64::MAX)
    }

    /// Runs a read on a read-only connection, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DashError> {
        let reads = self.reads.clone();
        tokio::task::spawn_blocking(move || reads.run(f))
            .await
            .map_err(|e| DashError::Task(e.to_string()))?
            .map_err(DashError::Store)
    }

    /// Runs a write (sessions, failures, language) on the store's connection, on a
    /// blocking thread.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DashError> {
        let identifier = self.app.identifier.clone();
        tokio::task::spawn_blocking(move || f(&identifier.store().conn()))
            .await
            .map_err(|e| DashError::Task(e.to_string()))?
            .map_err(DashError::Store)
    }
}

/// Why a page could not be served. The detail goes to the log; the manager sees a generic
/// page in both languages.
#[derive(Debug, Error)]
pub(crate) enum DashError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(String),
    /// No randomness for a token.
    #[error("random: {0}")]
    Random(#[from] getrandom::Error),
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "dashboard page failed");
        let body = layout::bare(
            tillpass_protocol::lang::Lang::Es,
            i18n::T::ErrorTitle.get(tillpass_protocol::lang::Lang::Es),
            html! {
                h1 { (i18n::T::ErrorTitle.get(tillpass_protocol::lang::Lang::Es)) }
                p { (i18n::T::ErrorBody.get(tillpass_protocol::lang::Lang::Es)) }
                p lang="en" { (i18n::T::ErrorBody.get(tillpass_protocol::lang::Lang::En)) }
            },
        );
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}

/// The dashboard's routes, all under [`BASE`], with their state. The agent merges them
/// into its router.
pub fn router(state: AppState) -> Router {
    let dash = Dash::new(state, password::Verifier::new());
    Router::new()
        .route(BASE, get(home))
        .route("/dashboard/", get(home))
        .route(LOGIN, get(auth::login_page).post(auth::login))
        .route(LOGOUT, post(auth::logout))
        .route(LANG, post(auth::switch_lang))
        .route(TODAY, get(pages::today::page))
        .route(TRANSACTIONS, get(pages::transactions::page))
        .route("/dashboard/transactions/{sale_id}", get(pages::sale::page))
        .route(CSV, get(pages::transactions::csv))
        .route(SCANS, get(pages::scans::page))
        .route(SYNC, get(pages::sync::page))
        .route(DEVICES, get(pages::devices::page))
        .route(PROMOTIONS, get(pages::promotions::page))
        .route(CSS, get(css))
        .route(HTMX, get(htmx))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(dash)
}

async fn home() -> Redirect {
    Redirect::to(TODAY)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS_TEXT,
    )
        .into_response()
}

async fn htmx() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=31536000, immutable"),
        ],
        HTMX_TEXT,
    )
        .into_response()
}

/// The policy every dashboard response carries: scripts, styles and requests only to the
/// agent itself, no framing, no referrer, nothing cached but the assets.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// What [`url_escape`] leaves as it is: the unreserved characters of RFC 3986.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` for a URL's query or path segment: unreserved characters as they are, every other
/// byte of its UTF-8 percent-encoded.
pub(crate) fn url_escape(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
