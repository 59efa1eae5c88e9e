//! The agent under the attacks of its security review, against the real `tillpass` daemon
//! (release build) on loopback:
//!
//! 1. **sign-in memory**: 1,000 failed sign-ins sent 100 at a time, from 100 client
//!    addresses and for 1,000 different names (so the lockout does not spare the password
//!    checker); the daemon's resident memory before, at its peak (`VmHWM`) and once idle
//!    again. Beside it, the two ways of giving Argon2 its 19 MiB compared in child
//!    processes of this bench: the crate's own allocation per check (`crate`), a mapping
//!    above glibc's mmap ceiling per check (`mapped`), and the agent's verifier, whose
//!    workers keep that mapping while checks wait (`worker`).
//! 2. **connections**: 2,000 idle sockets and 20 slow-header clients held open, then 500
//!    POS requests (`GET /v1/status`) on a kept-alive connection and 200 on a new
//!    connection each; their p50 and p99.
//!
//! Run: `cargo bench -p tillpass-agent --bench attack`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "bench-api-token-0123456789abcdef";
const PASSWORD: &str = "manager password 1";

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The process's resident memory once it holds still: sampled every 100 ms until two
/// samples a second apart agree, for ten seconds at most.
fn settled_rss(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = status_kib(pid, "VmRSS:");
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(100));
        let now = status_kib(pid, "VmRSS:");
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    last
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

struct Daemon {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tillpass(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tillpass"));
    c.args(["--config", config.to_str().unwrap()])
        .env_remove("TILLPASS_CONFIG");
    c
}

fn daemon() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("api.token"), TOKEN).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = {:?}\n[log]\nlevel = \"warn,tillpass_agent::daemon=info\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut add = tillpass(&config)
        .args(["manager", "add", "--name", "Ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut add.stdin.take().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(add.wait().unwrap().success());
    let log: PathBuf = dir.path().join("agent.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = tillpass(&config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("tillpass listening address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start: {text}"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    };
    Daemon {
        child,
        addr,
        _dir: dir,
    }
}

async fn connect_from(from: [u8; 4], to: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to.parse().unwrap()).await
}

async fn exchange(from: [u8; 4], to: &str, request: &str) -> (u16, String) {
    let Ok(mut stream) = connect_from(from, to).await else {
        return (0, String::new());
    };
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn sign_in_memory(rt: &tokio::runtime::Runtime) {
    let d = daemon();
    let pid = d.child.id();
    let to = d.addr.clone();
    let before = settled_rss(pid);
    let (csrf, cookie) = rt.block_on(async {
        let (_, page) = exchange(
            [127, 0, 0, 1],
            &to,
            &format!("GET /dashboard/login HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let cookie = page
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: tillpass_login="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        (csrf, cookie)
    });
    let started = Instant::now();
    let mut counts = std::collections::BTreeMap::<u16, u32>::new();
    for round in 0..10_u32 {
        let statuses = rt.block_on(async {
            let tasks: Vec<_> = (0..100_u32)
                .map(|i| {
                    let n = round * 100 + i;
                    let body = format!("csrf={csrf}&lang=en&name=user{n}&password=wrong+guess+{n}");
                    let request = format!(
                        "POST /dashboard/login HTTP/1.1\r\nHost: {to}\r\n\
                         Cookie: tillpass_login={cookie}\r\n\
                         Content-Type: application/x-www-form-urlencoded\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let to = to.clone();
                    let from = [127, 0, 2, u8::try_from(i).unwrap()];
                    tokio::spawn(async move { exchange(from, &to, &request).await.0 })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for s in statuses {
            *counts.entry(s).or_default() += 1;
        }
    }
    let took = started.elapsed();
    let peak = status_kib(pid, "VmHWM:");
    let after = status_kib(pid, "VmRSS:");
    let idle = settled_rss(pid);
    println!("sign-in memory: 1,000 failed sign-ins, 100 at a time, in {took:.1?}");
    println!(
        "  answers: {counts:?} (401 checked and wrong, 503 checker busy, 429 no guesses left)"
    );
    println!(
        "  resident: before {}, peak {} (VmHWM), just after {}, settled {}",
        mib(before),
        mib(peak),
        mib(after),
        mib(idle)
    );
}

/// In a child process: `n` verifications on two threads with `mechanism`, then the
/// process's resident memory at its peak and at the end.
fn mechanism_child(mechanism: &str, n: usize) {
    let stored = tillpass_agent::dashboard::password::hash(PASSWORD).unwrap();
    let parsed = argon2::password_hash::phc::PasswordHash::new(&stored).unwrap();
    let started = Instant::now();
    if mechanism == "worker" {
        // The agent's verifier, kept busy: eight checks queued at a time.
        let verifier = tillpass_agent::dashboard::password::Verifier::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..n / 8 {
                let checks = (0..8)
                    .map(|i| verifier.verify(format!("wrong guess {i}"), Some(stored.clone())));
                for answer in futures_util::future::join_all(checks).await {
                    assert_eq!(answer, Ok(false));
                }
            }
        });
    } else {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for i in 0..n / 2 {
                        let guess = format!("wrong guess {i}");
                        match mechanism {
                            "crate" => {
                                use argon2::PasswordVerifier;
                                let _ = argon2::Argon2::default()
                                    .verify_password(guess.as_bytes(), &parsed);
                            }
                            _ => {
                                let _ =
                                    tillpass_agent::dashboard::password::verify(&guess, &stored);
                            }
                        }
                    }
                });
            }
        });
    }
    let pid = std::process::id();
    println!(
        "{} {} {} {}",
        status_kib(pid, "VmHWM:"),
        status_kib(pid, "VmRSS:"),
        started.elapsed().as_millis(),
        n
    );
}

fn mechanisms() {
    for mechanism in ["crate", "mapped", "worker"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("TILLPASS_BENCH_MECHANISM", mechanism)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [peak, end, millis, n] = v[..] {
            println!(
                "  {mechanism:>6}: {n} checks on 2 threads in {millis} ms ({:.1} ms each): peak {}, after {}",
                millis as f64 * 2.0 / n as f64,
                mib(peak),
                mib(end)
            );
        }
    }
}

fn connections(rt: &tokio::runtime::Runtime) {
    let d = daemon();
    let to = d.addr.clone();
    rt.block_on(async {
        let mut idle = Vec::new();
        for i in 0..2_000_u32 {
            let from = [127, 0, 3 + u8::try_from(i / 250).unwrap(), u8::try_from(i % 250).unwrap()];
            if let Ok(s) = connect_from(from, &to).await {
                idle.push(s);
            }
        }
        let mut slow = Vec::new();
        for i in 0..20_u8 {
            if let Ok(mut s) = connect_from([127, 0, 20, i], &to).await {
                let _ = s.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n").await;
                slow.push(s);
            }
        }
        // The slow clients trickle a header byte every 200 ms while the POS is measured.
        let trickle = tokio::spawn(async move {
            loop {
                for s in &mut slow {
                    let _ = s.write_all(b"X").await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let url = format!("http://{to}/v1/status");
        let mut kept = Vec::new();
        for _ in 0..520 {
            let started = Instant::now();
            let r = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
            assert!(r.status().is_success());
            let _ = r.bytes().await.unwrap();
            kept.push(started.elapsed());
        }
        let mut fresh = Vec::new();
        let request = format!(
            "GET /v1/status HTTP/1.1\r\nHost: {to}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        let mut failed = 0;
        for _ in 0..200 {
            let started = Instant::now();
            let (status, _) = exchange([127, 0, 0, 1], &to, &request).await;
            if status == 200 {
                fresh.push(started.elapsed());
            } else {
                failed += 1;
            }
        }
        trickle.abort();
        let mut kept = kept.split_off(20);
        kept.sort();
        fresh.sort();
        println!(
            "connections: {} idle sockets and 20 slow-header clients open",
            idle.len()
        );
        println!(
            "  POS on a kept-alive connection (500): p50 {}, p99 {}",
            ms(percentile(&kept, 0.5)),
            ms(percentile(&kept, 0.99))
        );
        println!(
            "  POS on a new connection each (200, {failed} failed): p50 {}, p99 {}",
            ms(percentile(&fresh, 0.5)),
            ms(percentile(&fresh, 0.99))
        );
        drop(idle);
    });
}

fn main() {
    if let Ok(mechanism) = std::env::var("TILLPASS_BENCH_MECHANISM") {
        mechanism_child(&mechanism, 200);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs nothing heavy.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    sign_in_memory(&rt);
    println!("Argon2 working memory, 200 checks in a child process:");
    mechanisms();
    connections(&rt);
}
