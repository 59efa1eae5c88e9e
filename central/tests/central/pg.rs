//! PostgreSQL for central's tests: a database of its own per test, from
//! [`tillpass_tests::postgres`] (skipped loudly without a server; a failure under
//! `TILLPASS_REQUIRE_POSTGRES=1`), for tests that `.await` it.

pub use tillpass_tests::postgres::TestDb;

/// A fresh database for the test `case`, or `None` when no PostgreSQL answers and none is
/// required.
pub async fn database(case: &str) -> Option<TestDb> {
    tillpass_tests::postgres::database(case)
}
