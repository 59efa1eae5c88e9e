//! PostgreSQL for central's tests: a database of its own per test, from
//! [`tillpass_tests::postgres`] (skipped loudly without a server; a failure under
//! `TILLPASS_REQUIRE_POSTGRES=1`), for tests that `.await` it.

pub use tillpass_tests::postgres::TestDb;

/// A fresh database for the test `case`, or `None` when no PostgreSQL answers and none is
/// required.
pub async fn database(case: &str) -> Option<TestDb> {
    tillpass_tests::postgres::database(case)
}

/// A client of the database at `url`, its connection driven on the test's runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Makes customers `C-1` to `C-{count}`, each with a savings account of `balance`, at `at`:
/// a chain's worth in three statements, for the tests that need many.
pub async fn many_customers(client: &tokio_postgres::Client, count: i64, balance: i64, at: i64) {
    client
        .batch_execute(&format!(
            "INSERT INTO customers (ref, first_name, lang, consent_receipts, consent_marketing,
                                    created_by, created_at, updated_at)
             SELECT 'C-' || i, 'Ana', 'es', 1, 0, 'admin', {at}, {at}
             FROM generate_series(1, {count}) i;
             INSERT INTO savings_accounts (customer, currency, balance, updated_at)
             SELECT 'C-' || i, 'EUR', {balance}, {at} FROM generate_series(1, {count}) i;"
        ))
        .await
        .unwrap();
}
