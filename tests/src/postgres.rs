//! PostgreSQL for tests: each test gets a database of its own, made on the server at
//! `TILLPASS_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! dropped with its [`TestDb`], so tests run in parallel.
//!
//! Without a server the PostgreSQL cases are skipped, loudly (past the harness's capture);
//! with `TILLPASS_REQUIRE_POSTGRES=1` (set by `.ci/run`) a missing server fails them.
//! Every call runs on a runtime of its own in a thread of its own, so blocking tests and
//! async tests call the same functions.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The server when `TILLPASS_TEST_POSTGRES` is not set.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test server's URL.
pub fn server() -> String {
    std::env::var("TILLPASS_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// Whether a missing PostgreSQL is a failure (`TILLPASS_REQUIRE_POSTGRES=1`).
pub fn required() -> bool {
    std::env::var_os("TILLPASS_REQUIRE_POSTGRES").is_some_and(|v| v == "1")
}

/// A database of its own for one test, dropped with this value.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = on_own_runtime(move || async move {
            let (client, connection) = tokio_postgres::connect(&server(), NoTls).await?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
        });
    }
}

/// A fresh database for the test `case`, or `None` (after saying so on stderr) when no
/// PostgreSQL answers and none is required.
///
/// # Panics
/// When no PostgreSQL answers and [`required`], or when the server refuses to make it.
#[allow(clippy::panic)] // a test's set-up: failing is the answer
pub fn database(case: &str) -> Option<TestDb> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = server();
    let name = format!(
        "tillpass_t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let connected = {
        let (server, name) = (server.clone(), name.clone());
        on_own_runtime(move || async move {
            let (client, connection) = tokio_postgres::connect(&server, NoTls).await?;
            tokio::spawn(connection);
            Ok(client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await)
        })
    };
    match connected {
        Ok(made) => {
            if let Err(e) = made {
                panic!("PostgreSQL at {server} did not make database {name}: {e}");
            }
            let base = server
                .rsplit_once('/')
                .map_or(server.as_str(), |(base, _)| base);
            Some(TestDb {
                url: format!("{base}/{name}"),
                name,
            })
        }
        Err(e) => {
            assert!(
                !required(),
                "TILLPASS_REQUIRE_POSTGRES=1 and no PostgreSQL answers at {server}: {e}"
            );
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED the PostgreSQL case of `{case}`: no PostgreSQL at {server} ({e}). \
                 Start PostgreSQL 15 (or set TILLPASS_TEST_POSTGRES to a server URL); \
                 set TILLPASS_REQUIRE_POSTGRES=1 to make this a failure. ***\n"
            );
            None
        }
    }
}

/// Runs `work` to completion on a current-thread runtime in a thread of its own.
///
/// # Panics
/// When the runtime cannot be built or `work` panics.
#[allow(clippy::expect_used)] // a test's set-up: failing is the answer
pub fn on_own_runtime<F, Fut, T>(work: F) -> Result<T, tokio_postgres::Error>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for PostgreSQL")
            .block_on(work())
    })
    .join()
    .expect("the PostgreSQL thread")
}
