//! Signing in and out, sessions and the language switch.
//!
//! - Sign-in: the form's CSRF token must match its `tillpass_login` cookie; then the guess
//!   is reserved against the name's and the address's budgets ([`managers::reserve_attempt`],
//!   [`LockoutPolicy::DEFAULT`]) — a spent budget is refused before the password is looked
//!   at; the password is checked with Argon2id on the dashboard's [`super::password::Verifier`] (a
//!   name without an account costs the same time); a right one re-checks the account in the
//!   transaction that opens the session ([`managers::sign_in`]).
//! - Logs name the manager only when the name is an account's (escaped by
//!   [`crate::telemetry::escape`]); a name that is not — perhaps a password typed in the
//!   wrong field — is logged as its length alone.
//! - A session is a random 32-byte token in the `tillpass_session` cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/dashboard`); the store keeps only its SHA-256, with the
//!   session's CSRF token. It ends after 12 hours, or 2 hours unused, or at sign-out.
//! - [`Ctx`] is the extractor every page takes: no session, no page (a redirect to the
//!   sign-in form; htmx requests get `HX-Redirect`).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tillpass_protocol::lang::Lang;

use super::i18n::T;
use super::layout;
use super::{Dash, DashError, LOGIN, TODAY, csrf};
use crate::store::managers::{self, LockoutPolicy, NewSession, Reservation, SignIn};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "tillpass_session";
/// The sign-in form's anti-forgery cookie.
pub(crate) const LOGIN_COOKIE: &str = "tillpass_login";
/// A session ends this long after sign-in, seconds.
pub(crate) const SESSION_SECS: i64 = 12 * 3600;
/// A session unused this long ends, seconds.
pub(crate) const IDLE_SECS: i64 = 2 * 3600;
/// A session's last use is written at most this often, seconds.
const TOUCH_SECS: i64 = 60;

/// A signed-in request: who, in which language, the session's CSRF token, and the page's
/// own address (where the language switch comes back to).
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The manager's language.
    pub lang: Lang,
    /// The manager's name.
    pub name: String,
    /// The manager's id.
    pub manager_id: i64,
    /// The session's anti-forgery token.
    pub csrf: String,
    /// Now, unix seconds.
    pub now: i64,
    /// The store's time zone.
    pub tz: TimeZone,
    /// This page's path and query.
    pub back: String,
    token_hash: [u8; 32],
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The value of cookie `name`, if the request has it: the first of that name in its
/// `Cookie` headers. Pairs that do not parse are passed over.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A token as [`csrf::token`] makes them: 64 hex digits.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `Set-Cookie` value of one of the dashboard's cookies: `HttpOnly`, `SameSite=Strict`,
/// scoped to `/dashboard`; `max_age` in seconds (0 ends it), else it lasts the browser's
/// session. Not `Secure`: the dashboard is served by the till's own plain-HTTP listener.
fn set_cookie(name: &'static str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut built = Cookie::build((name, value.to_owned()))
        .path(super::BASE)
        .http_only(true)
        .same_site(SameSite::Strict);
    if let Some(secs) = max_age {
        built = built.max_age(cookie::time::Duration::seconds(secs));
    }
    HeaderValue::from_str(&built.build().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn to_login(parts: &Parts) -> Response {
    if parts.headers.contains_key("hx-request") {
        (StatusCode::UNAUTHORIZED, [("hx-redirect", LOGIN)]).into_response()
    } else {
        Redirect::to(LOGIN).into_response()
    }
}

impl FromRequestParts<Dash> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Dash) -> Result<Ctx, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| well_formed(t)) else {
            return Err(to_login(parts));
        };
        let hash = token_hash(&token);
        let now = dash.now();
        let session = dash
            .read(move |c| managers::session(c, &hash, now, IDLE_SECS))
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(session) = session else {
            return Err(to_login(parts));
        };
        if now.saturating_sub(session.seen_at) >= TOUCH_SECS
            && let Err(e) = dash
                .write(move |c| managers::touch_session(c, &hash, now))
                .await
        {
            tracing::warn!(error = %e, "dashboard session not touched");
        }
        let back = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| TODAY.to_owned());
        Ok(Ctx {
            lang: session.manager.lang,
            name: session.manager.name,
            manager_id: session.manager.id,
            csrf: session.csrf,
            now,
            tz: dash.app.time_zone.clone(),
            back,
            token_hash: hash,
        })
    }
}

/// `?lang=` on the sign-in page.
#[derive(Debug, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

fn login_form(lang: Lang, token: &str, name: &str, message: Option<String>) -> Markup {
    let other = match lang {
        Lang::Es => Lang::En,
        Lang::En => Lang::Es,
    };
    layout::bare(
        lang,
        T::LoginTitle.get(lang),
        html! {
            section class="login" {
                p class="brand" { "tillpass" }
                h1 { (T::LoginTitle.get(lang)) }
                @if let Some(message) = message {
                    p class="alert" role="alert" id="login-error" { (message) }
                }
                form method="post" action=(LOGIN) {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="lang" value=(lang.code());
                    label for="name" { (T::Name.get(lang)) }
                    input id="name" name="name" type="text" autocomplete="username" required
                        maxlength="64" value=(name) autofocus;
                    label for="password" { (T::Password.get(lang)) }
                    input id="password" name="password" type="password"
                        autocomplete="current-password" required maxlength="1024";
                    button type="submit" id="sign-in" { (T::SignIn.get(lang)) }
                }
                p class="switch" {
                    a href=(format!("{LOGIN}?lang={}", other.code())) lang=(other.code()) {
                        (T::OtherLanguage.get(lang))
                    }
                }
            }
        },
    )
}

fn login_response(
    status: StatusCode,
    lang: Lang,
    name: &str,
    message: Option<String>,
) -> Result<Response, DashError> {
    let token = csrf::token()?;
    let mut response = (status, login_form(lang, &token, name, message)).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, None));
    Ok(response)
}

/// `GET /dashboard/login`.
pub(crate) async fn login_page(
    State(dash): State<Dash>,
    Query(q): Query<LangQuery>,
) -> Result<Response, DashError> {
    let lang = q
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or(dash.app.lang);
    let accounts = dash.read(|c| managers::list(c).map(|l| l.len())).await?;
    let message = (accounts == 0).then(|| T::NoAccounts.get(lang).to_owned());
    login_response(StatusCode::OK, lang, "", message)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// The client's address as the lockout counts it; a request without one (served by
/// something other than [`crate::http::serve`]) counts as one unknown client.
fn client_of(connect: Option<&ConnectInfo<std::net::SocketAddr>>) -> String {
    connect.map_or_else(|| "unknown".to_owned(), |c| managers::client_key(c.0.ip()))
}

/// `POST /dashboard/login`.
pub(crate) async fn login(
    State(dash): State<Dash>,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, DashError> {
    let Ok(Form(form)) = form else {
        return login_response(
            StatusCode::BAD_REQUEST,
            dash.app.lang,
            "",
            Some(T::FormExpired.get(dash.app.lang).to_owned()),
        );
    };
    let lang = Lang::from_code(&form.lang).unwrap_or(dash.app.lang);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !csrf::matches(&expected, &form.csrf) {
        return login_response(
            StatusCode::FORBIDDEN,
            lang,
            &form.name,
            Some(T::FormExpired.get(lang).to_owned()),
        );
    }
    let name: String = form.name.trim().chars().take(64).collect();
    let addr = client_of(connect.as_ref().map(|c| &c.0));
    let now = dash.now();
    let reservation = {
        let (name, addr) = (name.clone(), addr.clone());
        dash.write(move |c| managers::reserve_attempt(c, &name, &addr, now, LockoutPolicy::DEFAULT))
            .await?
    };
    let (attempt_id, account, left) = match reservation {
        Reservation::Locked { until } => {
            tracing::warn!(client = %addr, "dashboard sign-in refused: no guesses left");
            return locked_response(lang, &name, until, now);
        }
        Reservation::Granted {
            attempt_id,
            account,
            left,
        } => (attempt_id, account, left),
    };
    // Who is named in the log: an account's name, escaped; anything else only by length.
    let logged = match &account {
        Some((manager, _)) => crate::telemetry::escape(&manager.name),
        None => format!("<not an account, {} characters>", name.chars().count()),
    };
    let stored = account.as_ref().map(|(_, hash)| hash.clone());
    let verified = match dash.verifier.verify(form.password, stored).await {
        Ok(v) => v,
        Err(e) => {
            // Not checked, so not a guess: the reservation is given back.
            dash.write(move |c| managers::release_attempt(c, attempt_id))
                .await?;
            tracing::warn!(error = %e, client = %addr, "dashboard sign-in not checked");
            return login_response(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                &name,
                Some(T::TryAgain.get(lang).to_owned()),
            );
        }
    };

    let manager = match (verified, account) {
        (true, Some((manager, hash))) => {
            let token = csrf::token()?;
            let session_csrf = csrf::token()?;
            let token_hash = token_hash(&token);
            let (name, addr) = (name.clone(), addr.clone());
            let id = manager.id;
            let signed = dash
                .write(move |c| {
                    managers::sign_in(
                        c,
                        &SignIn {
                            name: &name,
                            password_hash: &hash,
                            addr: &addr,
                            session: NewSession {
                                token_hash: &token_hash,
                                manager_id: id,
                                csrf: &session_csrf,
                                now,
                                expires_at: now.saturating_add(SESSION_SECS),
                            },
                        },
                    )
                })
                .await?;
            signed.map(|m| (m, token))
        }
        _ => None,
    };
    let Some((manager, token)) = manager else {
        tracing::warn!(manager = %logged, client = %addr, left, "dashboard sign-in failed");
        if left <= 0 {
            return locked_response(
                lang,
                &name,
                now.saturating_add(LockoutPolicy::DEFAULT.window_secs),
                now,
            );
        }
        return login_response(
            StatusCode::UNAUTHORIZED,
            lang,
            &name,
            Some(T::LoginFailed.get(lang).to_owned()),
        );
    };
    tracing::info!(
        manager = %crate::telemetry::escape(&manager.name),
        client = %addr,
        "dashboard sign-in"
    );
    let mut response = Redirect::to(TODAY).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, None));
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
    Ok(response)
}

fn locked_response(lang: Lang, name: &str, until: i64, now: i64) -> Result<Response, DashError> {
    let minutes = (until.saturating_sub(now).max(1) + 59) / 60;
    login_response(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        name,
        Some(T::LockedOut.with(lang, &minutes.to_string())),
    )
}

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
}

fn forbidden(lang: Lang) -> Response {
    let body = layout::bare(
        lang,
        T::Forbidden.get(lang),
        html! {
            h1 { (T::Forbidden.get(lang)) }
            p { a href=(TODAY) { (T::NavToday.get(lang)) } }
        },
    );
    (StatusCode::FORBIDDEN, body).into_response()
}

/// `POST /dashboard/logout`.
pub(crate) async fn logout(
    State(dash): State<Dash>,
    ctx: Ctx,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, DashError> {
    let Some(Form(form)) = form.ok().filter(|f| csrf::matches(&ctx.csrf, &f.csrf)) else {
        return Ok(forbidden(ctx.lang));
    };
    let _ = form;
    let hash = ctx.token_hash;
    dash.write(move |c| managers::delete_session(c, &hash))
        .await?;
    let mut response = Redirect::to(LOGIN).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    Ok(response)
}

/// The language switch.
#[derive(Debug, Deserialize)]
pub(crate) struct LangForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    back: String,
}

/// Where a form may send the browser back to: a dashboard page, nothing else.
pub(crate) fn safe_back(back: &str) -> &str {
    let inside =
        back == super::BASE || back.starts_with("/dashboard/") || back.starts_with("/dashboard?");
    let plain = !back.contains("//") && !back.contains('\\') && !back.chars().any(char::is_control);
    if inside && plain { back } else { TODAY }
}

/// `POST /dashboard/lang`.
pub(crate) async fn switch_lang(
    State(dash): State<Dash>,
    ctx: Ctx,
    form: Result<Form<LangForm>, FormRejection>,
) -> Result<Response, DashError> {
    let Some(Form(form)) = form.ok().filter(|f| csrf::matches(&ctx.csrf, &f.csrf)) else {
        return Ok(forbidden(ctx.lang));
    };
    let lang = Lang::from_code(&form.lang).unwrap_or(ctx.lang);
    let id = ctx.manager_id;
    dash.write(move |c| managers::set_lang(c, id, lang)).await?;
    Ok(Redirect::to(safe_back(&form.back)).into_response())
}
