//! The agent's attack surface, attacked as an outsider would over loopback, against the
//! real daemon: parallel password guesses, a stranger locking the manager out, a body
//! sent without the token, a rebound `Host`, slow-header and idle sockets, log injection,
//! and file modes under umask 022. Clients choose their source address inside 127/8 to
//! play different machines.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::util::{Agent, Central, TOKEN, Till};

const PASSWORD: &str = "manager password 1";

/// A till with extra `[api]` settings, and a manager `Ana`.
fn till(api: &str) -> Till {
    let till = Till::new(&Central::new(), 3, "");
    let text = std::fs::read_to_string(&till.config).unwrap();
    std::fs::write(
        &till.config,
        text.replace("[api]\n", &format!("[api]\n{api}\n")),
    )
    .unwrap();
    manager(&till, &["add", "--name", "Ana"], Some(PASSWORD));
    till
}

fn manager(till: &Till, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tillpass"))
        .args(["--config", till.config.to_str().unwrap(), "manager"])
        .args(args)
        .env_remove("TILLPASS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        std::io::Write::write_all(&mut input, format!("{text}\n").as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

async fn connect_from(from: [u8; 4], to: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to.parse().unwrap()).await.unwrap()
}

/// One request from `from`; the status, the head and the body.
async fn send(from: [u8; 4], to: &str, request: String) -> (u16, String, String) {
    let mut stream = connect_from(from, to).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within a minute")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// The sign-in form's CSRF token and its cookie.
async fn login_form(to: &str) -> (String, String) {
    let (status, head, body) = send(
        [127, 0, 0, 1],
        to,
        format!("GET /dashboard/login HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: tillpass_login="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (csrf, cookie)
}

fn form_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn sign_in(from: [u8; 4], to: &str, form: &(String, String), name: &str, pw: &str) -> u16 {
    let body = format!(
        "csrf={}&lang=en&name={}&password={}",
        form.0,
        form_escape(name),
        form_escape(pw)
    );
    let request = format!(
        "POST /dashboard/login HTTP/1.1\r\nHost: {to}\r\nCookie: tillpass_login={}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        form.1,
        body.len()
    );
    send(from, to, request).await.0
}

fn guesses(till: &Till, key: &str) -> i64 {
    let conn = rusqlite::Connection::open(till.data().join("tillpass.db")).unwrap();
    conn.query_row(
        "SELECT count(*) FROM manager_login_attempts WHERE login_key = ?1",
        [key],
        |r| r.get(0),
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn parallel_guesses_are_checked_at_most_five_times_and_a_stranger_cannot_lock_the_manager_out() {
    let till = till("");
    let agent = till.start();
    let to = agent.addr.clone();
    runtime().block_on(async {
        let form = login_form(&to).await;
        // The manager signs in from their usual address: it becomes known.
        assert_eq!(
            sign_in([127, 0, 0, 1], &to, &form, "Ana", PASSWORD).await,
            303
        );

        // A stranger sends 100 wrong guesses at once.
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (to, form) = (to.clone(), form.clone());
                tokio::spawn(async move {
                    sign_in([127, 0, 0, 2], &to, &form, "ana", &format!("guess {i:03}")).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let checked_failures = statuses.iter().filter(|s| **s == 401).count();
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "{statuses:?}"
        );
        assert!(
            checked_failures <= 5,
            "{checked_failures} checked: {statuses:?}"
        );
        assert!(guesses(&till, "ana") <= 5, "at most five guesses reserved");
        let failed_lines = agent.output().matches("dashboard sign-in failed").count();
        assert!(
            failed_lines <= 5,
            "{failed_lines} passwords checked and failed"
        );

        // The right password is refused to the stranger, and to any other stranger.
        assert_eq!(
            sign_in([127, 0, 0, 2], &to, &form, "ana", PASSWORD).await,
            429
        );
        assert_eq!(
            sign_in([127, 0, 0, 3], &to, &form, "ana", PASSWORD).await,
            429
        );
        // The manager's own address is not locked by the stranger.
        assert_eq!(
            sign_in([127, 0, 0, 1], &to, &form, "ana", PASSWORD).await,
            303
        );
    });
    // The till's operator lifts the lock for everyone.
    let out = manager(&till, &["unlock", "Ana"], None);
    assert!(out.contains("unlocked"), "{out}");
    runtime().block_on(async {
        let form = login_form(&to).await;
        assert_eq!(
            sign_in([127, 0, 0, 3], &to, &form, "ana", PASSWORD).await,
            303
        );
    });
    agent.stop();
}

#[test]
fn the_token_is_checked_before_the_body_is_read() {
    let till = till("");
    let agent = till.start();
    let to = agent.addr.clone();
    runtime().block_on(async {
        // A declared megabyte and not a byte of it sent: refused at once, not waited for.
        let mut stream = connect_from([127, 0, 0, 1], &to).await;
        stream
            .write_all(
                format!(
                    "PUT /v1/sessions/T-1 HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n\
                     Content-Length: 1000000\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = vec![0_u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("answered without the body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("\"code\":\"unauthorized\""), "{answer}");

        // A scan body over its real maximum is refused as too large.
        let big = format!("{{\"scan\":\"{}\"}}", "9".repeat(tillpass_agent::http::IDENTIFY_BODY));
        let (status, head, _) = send(
            [127, 0, 0, 1],
            &to,
            format!(
                "POST /v1/identify HTTP/1.1\r\nHost: {to}\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
                big.len()
            ),
        )
        .await;
        assert_eq!(status, 413, "{head}");
    });
    agent.stop();
}

#[test]
fn a_rebound_host_is_refused_and_the_agents_own_names_answer() {
    let till = till("allowed_hosts = [\"till-3.shop.lan\"]");
    let agent = till.start();
    let to = agent.addr.clone();
    let port = to.rsplit(':').next().unwrap().to_owned();
    runtime().block_on(async {
        // A page of evil.example whose name now resolves to 127.0.0.1.
        for path in ["/dashboard/login", "/metrics", "/v1/status"] {
            let (status, head, body) = send(
                [127, 0, 0, 1],
                &to,
                format!(
                    "GET {path} HTTP/1.1\r\nHost: evil.example:{port}\r\n\
                     Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
                ),
            )
            .await;
            assert_eq!(status, 421, "{path}: {head}");
            assert!(head.contains("application/problem+json"), "{head}");
            let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["code"], "host_not_allowed");
        }
        for host in [
            format!("localhost:{port}"),
            to.clone(),
            format!("till-3.shop.lan:{port}"),
        ] {
            let (status, head, _) = send(
                [127, 0, 0, 1],
                &to,
                format!(
                    "GET /dashboard/login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                ),
            )
            .await;
            assert_eq!(status, 200, "{host}: {head}");
        }
    });
    agent.stop();
}

#[test]
fn slow_header_clients_are_dropped_and_idle_sockets_do_not_stop_the_pos() {
    let till = till("header_timeout_secs = 1\nmax_connections = 16");
    let agent = till.start();
    let to = agent.addr.clone();
    runtime().block_on(async {
        // A slow-header client: half a head, then silence. Dropped after the timeout.
        let mut slow = connect_from([127, 0, 0, 9], &to).await;
        slow.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
            .await
            .expect("dropped within ten seconds");
        assert!(closed.is_ok() || closed.is_err(), "the read ended");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "not before the timeout: {:?}",
            started.elapsed()
        );
        assert!(
            !String::from_utf8_lossy(&rest).contains("200 OK"),
            "never served: {rest:?}"
        );

        // Sixty-four idle sockets against a limit of sixteen, then the POS.
        let mut idle = Vec::new();
        for i in 0..64_u8 {
            idle.push(connect_from([127, 0, 1, i], &to).await);
        }
        let started = Instant::now();
        let (status, head, _) = send(
            [127, 0, 0, 1],
            &to,
            format!(
                "GET /v1/status HTTP/1.1\r\nHost: {to}\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Connection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status, 200, "{head}");
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "answered before any idle socket timed out: {:?}",
            started.elapsed()
        );
        drop(idle);
    });
    agent.stop();
}

#[test]
fn logs_escape_what_clients_send_and_never_carry_a_password_typed_as_the_name() {
    let till = till("");
    let agent = till.start();
    let to = agent.addr.clone();
    runtime().block_on(async {
        let form = login_form(&to).await;
        let forged = "nobody\nINFO tillpass_agent: dashboard sign-in manager=Root\u{1b}[2J";
        assert_eq!(
            sign_in([127, 0, 0, 1], &to, &form, forged, "wrong password").await,
            401
        );
        // The manager typed the password into the name field.
        assert_eq!(
            sign_in([127, 0, 0, 1], &to, &form, PASSWORD, "x").await,
            401
        );
        assert_eq!(
            sign_in([127, 0, 0, 1], &to, &form, "Ana", "wrong password").await,
            401
        );
    });
    let log = agent.output();
    assert!(log.contains("dashboard sign-in failed"), "{log}");
    assert!(!log.contains("manager=Root"), "no forged line: {log}");
    assert!(!log.contains('\u{1b}'), "no terminal escapes: {log:?}");
    assert!(!log.contains(PASSWORD), "no password: {log}");
    assert!(!log.contains("wrong password"), "no password: {log}");
    assert!(log.contains("manager=Ana"), "an account is named: {log}");
    agent.stop();
}

#[test]
fn the_database_and_its_folder_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let till = till("");
    // The test made the folder under umask 022 (0755); the agent narrows it.
    std::fs::set_permissions(till.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // As an older agent left it.
    std::fs::set_permissions(
        till.data().join("tillpass.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let agent: Agent = till.start();
    let (status, _) = agent.request("GET", "/v1/status", None);
    assert_eq!(status, 200);
    let mode = |name: &str| {
        std::fs::metadata(till.data().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "data folder");
    for file in ["tillpass.db", "tillpass.db-wal", "tillpass.db-shm"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    agent.stop();
}
