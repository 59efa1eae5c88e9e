//! The dashboard through its router, in process: sign-in, lockout, CSRF, every page in
//! both languages, the CSV, the day's figures.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tillpass_protocol::lang::Lang;
use tower::ServiceExt;

use super::fixtures::{self, Fixture, NOON};
use super::{router, url_escape};
use crate::store::managers;

const PASSWORD: &str = "a long enough password";

fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| super::password::hash(PASSWORD).unwrap())
}

fn add_manager(fx: &Fixture, name: &str, lang: Lang) {
    managers::add(&fx.conn(), name, password_hash(), lang, 0)
        .unwrap()
        .unwrap();
}

/// A browser of one: a cookie jar over the router.
struct Browser {
    router: Router,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first `name="csrf"` input.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").unwrap();
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(fx: &Fixture) -> Browser {
        Browser {
            router: router(fx.state.clone()),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for cookie in headers.get_all(header::SET_COOKIE) {
            let text = cookie.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", url_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/dashboard/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/dashboard/login",
            &[
                ("csrf", &csrf),
                ("lang", ""),
                ("name", name),
                ("password", password),
            ],
        )
        .await
    }
}

async fn signed_in(fx: &Fixture, lang: Lang) -> Browser {
    add_manager(fx, "Ana", lang);
    let mut b = Browser::new(fx);
    let page = b.sign_in("ana", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/dashboard/today");
    b
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_session_cookie() {
    let fx = Fixture::new(Lang::Es);
    add_manager(&fx, "Ana", Lang::Es);
    let mut b = Browser::new(&fx);
    let page = b.sign_in("ANA ", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookies: Vec<&str> = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tillpass_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(session.contains(attr), "{session}");
    }
    // Only a hash of the token is stored.
    let token = b.cookies["tillpass_session"].clone();
    let stored: Vec<u8> = fx
        .conn()
        .query_row("SELECT token_hash FROM manager_sessions", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, token.as_bytes());
    assert_eq!(stored.len(), 32);

    let today = b.get("/dashboard/today").await;
    assert_eq!(today.status, StatusCode::OK);
    assert!(today.body.contains("<html lang=\"es\">"), "{}", today.body);
    assert!(today.body.contains("Sesión de Ana"));
    for h in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ] {
        assert!(today.headers.contains_key(h), "{h}");
    }
    assert_eq!(today.headers[header::CACHE_CONTROL], "no-store");

    // Sign out: the session is gone from the store and the cookie cleared.
    let csrf = today.csrf();
    let out = b.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/dashboard/login");
    let left: i64 = fx
        .conn()
        .query_row("SELECT count(*) FROM manager_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // Replaying the old cookie does not work either.
    b.cookies.insert("tillpass_session".into(), token);
    assert_eq!(
        b.get("/dashboard/today").await.status,
        StatusCode::SEE_OTHER
    );
}

/// The `Set-Cookie` of cookie `name` on `page`, as its value and its attributes (names
/// lower-cased, with their values).
fn set_cookie(page: &Page, name: &str) -> (String, BTreeMap<String, String>) {
    let text = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", page.headers));
    let mut parts = text.split(';').map(str::trim);
    let value = parts.next().unwrap()[name.len() + 1..].to_owned();
    let attrs = parts
        .map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            (k.to_ascii_lowercase(), v.to_owned())
        })
        .collect();
    (value, attrs)
}

fn attrs(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn every_dashboard_cookie_keeps_its_attributes() {
    let fx = Fixture::new(Lang::En);
    add_manager(&fx, "Ana", Lang::En);
    let mut b = Browser::new(&fx);
    let scoped = [
        ("httponly", ""),
        ("samesite", "Strict"),
        ("path", "/dashboard"),
    ];
    let cleared = [
        ("httponly", ""),
        ("samesite", "Strict"),
        ("path", "/dashboard"),
        ("max-age", "0"),
    ];

    // The sign-in form's anti-forgery cookie: for the browser's session, never `Secure`
    // (the till serves plain HTTP), never readable by scripts.
    let form = b.get("/dashboard/login").await;
    let (value, got) = set_cookie(&form, "tillpass_login");
    assert_eq!(value, form.csrf());
    assert_eq!(got, attrs(&scoped));

    // Signing in sets the session and ends the form's cookie.
    let page = b.sign_in("Ana", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (token, got) = set_cookie(&page, "tillpass_session");
    assert_eq!(token.len(), 64);
    assert_eq!(got, attrs(&scoped));
    let (value, got) = set_cookie(&page, "tillpass_login");
    assert_eq!(value, "");
    assert_eq!(got, attrs(&cleared));

    // The session is found among other cookies, across two `Cookie` headers, next to a
    // pair that does not parse.
    let request = Request::get("/dashboard/today")
        .header(header::COOKIE, "theme=dark; junk; a=1")
        .header(
            header::COOKIE,
            format!(" other=x ;tillpass_session={token}"),
        )
        .body(Body::empty())
        .unwrap();
    let today = b.router.clone().oneshot(request).await.unwrap();
    assert_eq!(today.status(), StatusCode::OK);

    // Signing out ends the session's cookie.
    let today = b.get("/dashboard/today").await;
    let out = b
        .post("/dashboard/logout", &[("csrf", &today.csrf())])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let (value, got) = set_cookie(&out, "tillpass_session");
    assert_eq!(value, "");
    assert_eq!(got, attrs(&cleared));
}

#[test]
fn url_escape_keeps_unreserved_and_encodes_the_rest() {
    assert_eq!(url_escape("Az09-_.~"), "Az09-_.~");
    assert_eq!(url_escape("a b&c=d/e?f#"), "a%20b%26c%3Dd%2Fe%3Ff%23");
    assert_eq!(url_escape("ñ%"), "%C3%B1%25");
    assert_eq!(url_escape("1754000000:S-1"), "1754000000%3AS-1");
}

#[tokio::test]
async fn pages_need_a_session() {
    let fx = Fixture::new(Lang::Es);
    let mut b = Browser::new(&fx);
    for path in [
        "/dashboard/today",
        "/dashboard/transactions",
        "/dashboard/transactions/S-1",
        "/dashboard/transactions.csv",
        "/dashboard/scans",
        "/dashboard/sync",
        "/dashboard/devices",
        "/dashboard/promotions",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/dashboard/login", "{path}");
    }
    b.cookies.insert("tillpass_session".into(), "ab".repeat(32));
    assert_eq!(b.get("/dashboard/sync").await.status, StatusCode::SEE_OTHER);
    let request = Request::get("/dashboard/scans")
        .header("HX-Request", "true")
        .body(Body::empty())
        .unwrap();
    let page = b.send(request).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.headers["hx-redirect"], "/dashboard/login");
    // Assets and the sign-in page are public.
    assert_eq!(b.get("/dashboard/login").await.status, StatusCode::OK);
    let css = b.get(super::CSS).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let js = b.get(super::HTMX).await;
    assert!(js.body.starts_with("var htmx="), "the vendored htmx");
    let home = b.get("/dashboard").await;
    assert_eq!(home.location(), "/dashboard/today");
}

#[tokio::test]
async fn sign_in_needs_the_forms_csrf_cookie() {
    let fx = Fixture::new(Lang::En);
    add_manager(&fx, "Ana", Lang::En);
    let mut b = Browser::new(&fx);
    let form = b.get("/dashboard/login").await;
    let csrf = form.csrf();
    assert_eq!(b.cookies["tillpass_login"], csrf);
    // Another site posting the form has neither the cookie nor its value.
    let mut other = Browser::new(&fx);
    let page = other
        .post(
            "/dashboard/login",
            &[("csrf", &csrf), ("name", "ana"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("The form expired"));
    let page = b
        .post(
            "/dashboard/login",
            &[
                ("csrf", &"0".repeat(64)),
                ("name", "ana"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = b.post("/dashboard/login", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Nothing was counted against the name, and no session was made.
    let guesses: i64 = fx
        .conn()
        .query_row("SELECT count(*) FROM manager_login_attempts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(guesses, 0);
    assert!(!b.cookies.contains_key("tillpass_session"));
}

#[tokio::test]
async fn five_failures_lock_the_name_even_for_the_right_password() {
    let fx = Fixture::new(Lang::En);
    add_manager(&fx, "Ana", Lang::En);
    let mut b = Browser::new(&fx);
    for _ in 0..4 {
        let page = b.sign_in("ana", "wrong password!").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains("Wrong name or password."));
    }
    let page = b.sign_in("ana", "wrong password!").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("locked for 15 min"), "{}", page.body);
    let page = b.sign_in("ana", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked means locked"
    );
    assert!(!b.cookies.contains_key("tillpass_session"));
    // A name without an account locks the same way (no telling which names exist).
    for _ in 0..5 {
        b.sign_in("nobody", "wrong password!").await;
    }
    assert_eq!(
        b.sign_in("nobody", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // After the lock, the right password works and clears the count.
    fx.advance(15 * 60 + 1);
    let page = b.sign_in("ana", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let failures: i64 = fx
        .conn()
        .query_row(
            "SELECT count(*) FROM manager_login_attempts WHERE login_key = 'ana'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failures, 0);
}

#[tokio::test]
async fn the_language_switch_checks_csrf_and_stays_with_the_manager() {
    let fx = Fixture::new(Lang::Es);
    let mut b = signed_in(&fx, Lang::Es).await;
    let page = b.get("/dashboard/scans?result=refused").await;
    assert!(page.body.contains("Lecturas de QR"));
    let csrf = page.csrf();
    for bad in ["", "x", &"0".repeat(64)] {
        let refused = b
            .post(
                "/dashboard/lang",
                &[("csrf", bad), ("lang", "en"), ("back", "/dashboard/scans")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{bad:?}");
    }
    assert_eq!(
        managers::find(&fx.conn(), "ana").unwrap().unwrap().0.lang,
        Lang::Es
    );
    let switched = b
        .post(
            "/dashboard/lang",
            &[
                ("csrf", &csrf),
                ("lang", "en"),
                ("back", "/dashboard/scans?result=refused"),
            ],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location(), "/dashboard/scans?result=refused");
    let page = b.get("/dashboard/scans").await;
    assert!(page.body.contains("QR scans") && page.body.contains("<html lang=\"en\">"));
    // Kept across sessions.
    assert_eq!(
        managers::find(&fx.conn(), "ana").unwrap().unwrap().0.lang,
        Lang::En
    );
    // Never sent off the dashboard.
    for back in [
        "https://evil.example/",
        "//evil.example/x",
        "/v1/status",
        "/dashboard/\\evil",
    ] {
        let page = b
            .post(
                "/dashboard/lang",
                &[("csrf", &csrf), ("lang", "es"), ("back", back)],
            )
            .await;
        assert_eq!(page.location(), "/dashboard/today", "{back}");
    }
}

fn seed(fx: &Fixture) {
    let conn = fx.conn();
    fixtures::customer(&conn, "C-000123", "Ana María");
    // 09:10, 09:40 and 11:05 local on the fixture's day; one the day before.
    let first = fixtures::insert_sale(&conn, "S-0001", NOON - 3 * 3600 + 600, Some("C-000123"));
    fixtures::insert_sale(&conn, "S-0002", NOON - 3 * 3600 + 2400, None);
    fixtures::insert_sale(&conn, "=cmd|' /C calc'!A0", NOON - 3600 + 300, None);
    fixtures::insert_sale(&conn, "S-OLD", NOON - 86_400, Some("C-000123"));
    fixtures::insert_return(&conn, &first, "S-0001", "R-1", NOON - 600);
    fixtures::scan(&conn, NOON - 700, "front", None);
    fixtures::scan(&conn, NOON - 650, "front", Some("expired"));
    fixtures::scan(&conn, NOON - 640, "api", Some("bad_signature"));
    fixtures::scan(&conn, NOON - 630, "api", Some("replayed"));
    // A return of the same sale recorded at another till of the store, received from
    // central: shown on the sale, not counted in this till's day.
    fixtures::insert_return(&conn, &first, "S-0001", "R-2", NOON - 500);
    conn.execute(
        "UPDATE sale_returns SET origin = 'store', till_id = 'S1-T3' WHERE return_id = 'R-2'",
        [],
    )
    .unwrap();
}

#[tokio::test]
async fn every_page_renders_in_both_languages_and_every_post_form_has_the_token() {
    let fx = Fixture::new(Lang::Es);
    seed(&fx);
    fx.state.devices.lock().unwrap().insert(
        "front".into(),
        crate::http::DeviceStatus {
            connected: false,
            path: Some("/dev/ttyACM0".into()),
            last_scan_at: Some(NOON - 650),
            last_error: Some("unplugged — check the cable".into()),
        },
    );
    let mut b = signed_in(&fx, Lang::Es).await;
    let pages = [
        "/dashboard/today",
        "/dashboard/today?day=2025-06-01",
        "/dashboard/today?day=not-a-day",
        "/dashboard/transactions",
        "/dashboard/transactions?q=C-000123",
        "/dashboard/transactions?q=S-00",
        "/dashboard/transactions/S-0001",
        "/dashboard/transactions/S-0002",
        "/dashboard/scans",
        "/dashboard/scans?source=api&result=refused",
        "/dashboard/sync",
        "/dashboard/devices",
        "/dashboard/promotions",
        "/dashboard/promotions?q=camisas",
    ];
    for lang in ["es", "en"] {
        let csrf = b.get("/dashboard/today").await.csrf();
        b.post(
            "/dashboard/lang",
            &[
                ("csrf", &csrf),
                ("lang", lang),
                ("back", "/dashboard/today"),
            ],
        )
        .await;
        for path in pages {
            let page = b.get(path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
            assert!(
                page.body.contains(&format!("<html lang=\"{lang}\">")),
                "{path}"
            );
            assert!(!page.body.contains("{}"), "{path}: a text missed its value");
            // Personal data: only the masked reference.
            assert!(
                !page.body.contains("C-000123") || path.contains("q=C-000123"),
                "{path}"
            );
            let mut rest = page.body.as_str();
            while let Some(at) = rest.find("<form") {
                let form = &rest[at..at + rest[at..].find("</form>").unwrap()];
                if form.contains("method=\"post\"") {
                    assert!(
                        form.contains(&format!("name=\"csrf\" value=\"{}\"", page.csrf())),
                        "{path}: {form}"
                    );
                }
                rest = &rest[at + 5..];
            }
        }
    }
    let missing = b.get("/dashboard/transactions/NOPE").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn today_shows_the_days_figures() {
    let fx = Fixture::new(Lang::En);
    seed(&fx);
    let mut b = signed_in(&fx, Lang::En).await;
    let page = b.get("/dashboard/today").await.body;
    let loyalty = fixtures::closed_sale(true);
    let anonymous = fixtures::closed_sale(false);
    let net = loyalty.evaluation.totals.total.amount + 2 * anonymous.evaluation.totals.total.amount;
    let card = |id: &str| {
        let at = page.find(&format!("id=\"{id}\"")).unwrap();
        let end = page[at..].find("</section>").unwrap();
        let card = &page[at..at + end];
        card[..card.find("class=\"card\"").unwrap_or(card.len())].to_owned()
    };
    assert!(card("kpi-sales").contains(">3<"), "{}", card("kpi-sales"));
    assert!(card("kpi-loyalty").contains(">1<") && card("kpi-loyalty").contains("33.3% of sales"));
    assert!(card("kpi-net").contains(&super::money::amount(net, "EUR", Lang::En)));
    assert!(card("kpi-redeemed").contains("€1.00"));
    assert!(card("kpi-gift-cards").contains("€5.00"));
    assert!(card("kpi-returns").contains(">1<"));
    // The chart: 09:00 has two sales, one with a loyalty customer; 11:00 one.
    assert!(
        page.contains("<title>09:00 · Sales: 2 · With a loyalty customer: 1</title>"),
        "{page}"
    );
    assert!(page.contains("<title>11:00 · Sales: 1 · With a loyalty customer: 0</title>"));
    // Top promotions by name from the catalog.
    assert!(page.contains("Shirts 10 % off"));
    assert!(page.contains("href=\"/dashboard/transactions.csv?day=2025-06-02\""));
    // The day before has the old sale only.
    let before = b.get("/dashboard/today?day=2025-06-01").await.body;
    assert!(before.contains("id=\"kpi-sales\""));
    let empty = b.get("/dashboard/today?day=2025-05-01").await.body;
    assert!(empty.contains("No sales on this day."));
}

#[tokio::test]
async fn transactions_list_search_and_detail() {
    let fx = Fixture::new(Lang::En);
    seed(&fx);
    let mut b = signed_in(&fx, Lang::En).await;
    let page = b.get("/dashboard/transactions").await.body;
    assert!(page.contains("3 sales on this day"), "{page}");
    let s1 = page.find("S-0001").unwrap();
    let s2 = page.find("S-0002").unwrap();
    assert!(s2 < s1, "newest first");
    assert!(page.contains("Ana María") && page.contains("C-••••23"));
    assert!(page.contains("Returned"));
    assert!(!page.contains("S-OLD"), "another day");

    let found = b.get("/dashboard/transactions?q=C-000123").await.body;
    assert!(found.contains("S-0001") && found.contains("S-OLD") && !found.contains("S-0002"));
    let found = b.get("/dashboard/transactions?q=S-0002").await.body;
    assert!(found.contains("S-0002") && !found.contains("S-0001\""));

    let detail = b.get("/dashboard/transactions/S-0001").await.body;
    for text in [
        "Sale S-0001",
        "Shirts 10 % off",
        "Percent off items",
        "Gift card GC•••••••78",
        "Savings",
        "POS: card",
        "R-1",
        "Refunded to",
        "R-2",
        "Till S1-T3",
    ] {
        assert!(detail.contains(text), "{text}: {detail}");
    }
    let hostile = b
        .get(&format!(
            "/dashboard/transactions/{}",
            url_escape("=cmd|' /C calc'!A0")
        ))
        .await;
    assert_eq!(hostile.status, StatusCode::OK);
    assert!(
        hostile.body.contains("=cmd|&#39; /C calc&#39;!A0")
            || hostile.body.contains("=cmd|' /C calc'!A0")
    );
}

#[tokio::test]
async fn the_csv_holds_the_days_sales_safely() {
    let fx = Fixture::new(Lang::Es);
    seed(&fx);
    let mut b = signed_in(&fx, Lang::Es).await;
    let page = b.get("/dashboard/transactions.csv?day=2025-06-02").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        page.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("tillpass-2025-06-02.csv")
    );
    let rows = super::csv::parse(&page.body);
    assert_eq!(rows[0], super::pages::transactions::CSV_HEADER);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[1][0], "S-0001");
    assert_eq!(rows[1][1], "2025-06-02T09:10:00+02:00");
    assert_eq!(rows[1][3], "C-••••23");
    assert_eq!(rows[1][10], "1.00", "savings redeemed");
    assert_eq!(rows[1][13], "2", "its returns, here and at another till");
    assert_eq!(rows[3][0], "'=cmd|' /C calc'!A0", "formula neutralised");
    assert!(!page.body.contains("C-000123") && !page.body.contains("Ana"));
}

#[tokio::test]
async fn the_read_model_follows_inserts_and_deletes() {
    let fx = Fixture::new(Lang::Es);
    seed(&fx);
    let conn = fx.conn();
    let day = super::days::Day::parse("2025-06-02", &fx.state.time_zone).unwrap();
    let report = super::queries::day::report(&conn, day.start, day.end).unwrap();
    // The same figures straight from the sales table.
    let (n, net, discount): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(net), sum(discount) FROM sales WHERE closed_at >= ?1 AND closed_at < ?2",
            [day.start, day.end],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(report.totals.len(), 1);
    assert_eq!(
        (
            report.totals[0].sales,
            report.totals[0].net,
            report.totals[0].discount
        ),
        (n, net, discount)
    );
    let shirts = report
        .top
        .iter()
        .find(|p| p.promotion_id == "SHIRT-10")
        .unwrap();
    assert_eq!(shirts.uses, 3);
    assert_eq!(report.returns[0].returns, 1);
    conn.execute("DELETE FROM sale_returns", []).unwrap();
    conn.execute("DELETE FROM sales WHERE sale_id = 'S-0002'", [])
        .unwrap();
    let report = super::queries::day::report(&conn, day.start, day.end).unwrap();
    assert_eq!(report.totals[0].sales, 2);
    assert_eq!(
        report
            .top
            .iter()
            .find(|p| p.promotion_id == "SHIRT-10")
            .unwrap()
            .uses,
        2
    );
}

#[tokio::test]
async fn promotions_show_the_catalog_in_force_and_the_scheduled_one() {
    use ed25519_dalek::SigningKey;
    use tillpass_protocol::catalog::Catalog;
    use tillpass_protocol::envelope::{self, EnvelopeHeader, EnvelopePurpose};
    use tillpass_protocol::trust::{KeyPurpose, TrustStore, TrustedKey};

    let fx = Fixture::new(Lang::En);
    let root = SigningKey::from_bytes(&[1; 32]);
    let catalog_key = SigningKey::from_bytes(&[3; 32]);
    let trust = TrustStore::new(
        1,
        [TrustedKey::new(
            KeyPurpose::Catalog,
            &catalog_key.verifying_key().to_bytes(),
            0,
            u64::MAX,
        )
        .unwrap()],
    )
    .unwrap()
    .seal(&root, NOON - 60, 30 * 86_400)
    .unwrap();
    let next = Catalog::from_toml(
        r#"
format = 1
currency = "EUR"
[[promotions]]
id = "SUMMER-20"
label = { es = "Verano -20 %", en = "Summer 20 % off" }
valid_from = 1750000000
valid_until = 1760000000
rules = [{ type = "percent_off", percent = 2000 }]
"#,
    )
    .unwrap();
    let mut payload = Vec::new();
    ciborium::into_writer(&next, &mut payload).unwrap();
    let sealed = envelope::sign(
        &EnvelopeHeader {
            purpose: EnvelopePurpose::Catalog,
            sequence: 8,
            issued_at: NOON - 30,
            max_age_secs: 7 * 86_400,
        },
        &payload,
        &catalog_key,
    )
    .unwrap();
    {
        let conn = fx.conn();
        crate::store::tokens::accept_trust_list(
            &conn,
            root.verifying_key().to_bytes(),
            &trust,
            NOON,
        )
        .unwrap();
        conn.execute(
            "INSERT INTO catalogs(sequence, envelope, issued_at, activates_at, received_at, state)
             VALUES (8, ?1, ?2, ?3, ?2, 'scheduled')",
            rusqlite::params![
                sealed,
                i64::try_from(NOON - 30).unwrap(),
                i64::try_from(NOON + 86_400).unwrap()
            ],
        )
        .unwrap();
    }
    let mut b = signed_in(&fx, Lang::En).await;
    let page = b.get("/dashboard/promotions").await.body;
    assert!(page.contains("Catalog in force: version 7"), "{page}");
    assert!(
        page.contains("Shirts 10 % off") && page.contains("Upcoming"),
        "{page}"
    );
    assert!(page.contains("Scheduled catalog: Version 8"), "{page}");
    assert!(
        page.contains("Summer 20 % off") && page.contains("Percent off the basket 20%"),
        "{page}"
    );
    let found = b.get("/dashboard/promotions?q=summer").await.body;
    assert!(
        found.contains("SUMMER-20") && !found.contains("SHIRT-10"),
        "{found}"
    );
    let sync = b.get("/dashboard/sync").await.body;
    assert!(sync.contains("Version 8"), "{sync}");
}

#[tokio::test]
async fn sync_shows_ages_against_the_policy_and_the_offline_risk() {
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::{OfflinePolicy, ReplayPolicy};
    let fx = Fixture::new(Lang::En);
    fx.state.sync.update(|s| {
        s.online = false;
        s.last_success_at = Some(NOON - 7200);
        s.earn_only = Some("catalog_too_old".into());
        s.offline_policy = Some(OfflinePolicy {
            max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
            max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
            max_catalog_age_secs: 2 * 86_400,
            max_trust_list_age_secs: 30 * 86_400,
            retention_days: 90,
            replay: ReplayPolicy {
                max_uses_per_pass: 1,
            },
        });
    });
    {
        let conn = fx.conn();
        fixtures::customer(&conn, "C-000123", "Ana");
        conn.execute(
            "INSERT INTO savings_accounts(customer_ref, currency, synced_balance, unsynced_spent)
             VALUES ('C-000123', 'EUR', 5000, 1250)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox(event_id, kind, body, created_at, attempts, last_error, state,
                                reject_code, rejected_at)
             VALUES ('e-1', 'sale_closed', '{}', ?1, 1, 'no such customer', 'rejected',
                     'unknown_customer', ?1)",
            [i64::try_from(NOON - 600).unwrap()],
        )
        .unwrap();
    }
    let mut b = signed_in(&fx, Lang::En).await;
    let page = b.get("/dashboard/sync").await.body;
    for text in [
        "Offline",
        "2 h 0 min ago",
        "catalog_too_old",
        "Too old: at most 2 d 0 h",
        "€12.50",
        "customers: 1",
        "cap per customer: €20.00",
        "cap per card: €50.00",
        "unknown_customer: no such customer",
        "e-1",
        "tillpass journal retry --all",
    ] {
        assert!(page.contains(text), "{text}: {page}");
    }
}
