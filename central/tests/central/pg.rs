//! PostgreSQL for tests: each test gets its own database, made on the server at
//! `TILLPASS_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! dropped when the test ends, so tests run in parallel.
//!
//! Without a server the PostgreSQL cases are skipped, loudly; with
//! `TILLPASS_REQUIRE_POSTGRES=1` (set by `.ci/run`) a missing server fails them.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server() -> String {
    std::env::var("TILLPASS_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

fn required() -> bool {
    std::env::var_os("TILLPASS_REQUIRE_POSTGRES").is_some_and(|v| v == "1")
}

/// A database of its own for one test, dropped with this value.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropped from async tests too: a thread of its own with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&server(), NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh database for the test `case`, or `None` (after saying so on stderr) when no
/// PostgreSQL answers and none is required.
pub async fn database(case: &str) -> Option<TestDb> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = server();
    let (client, connection) = match tokio_postgres::connect(&server, NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            assert!(
                !required(),
                "TILLPASS_REQUIRE_POSTGRES=1 and no PostgreSQL answers at {server}: {e}"
            );
            // Straight to the process's stderr, past the test harness's capture, so the
            // skip shows in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED the PostgreSQL case of `{case}`: no PostgreSQL at {server} ({e}). \
                 Start PostgreSQL 15 (or set TILLPASS_TEST_POSTGRES to a server URL); \
                 set TILLPASS_REQUIRE_POSTGRES=1 to make this a failure. ***\n"
            );
            return None;
        }
    };
    tokio::spawn(connection);
    let name = format!(
        "tillpass_t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    Some(TestDb {
        url: format!("{base}/{name}"),
        name,
    })
}
