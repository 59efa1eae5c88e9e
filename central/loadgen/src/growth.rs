//! How much central's database grows during a run, scaled to a simulated day.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// Central's database, as `--database` names it.
pub enum Database {
    /// A SQLite file (its `-wal` counts too).
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Database {
    /// Reads `--database`: a PostgreSQL URL, or else a file path.
    pub fn parse(text: &str) -> Database {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.to_owned())
        } else {
            Database::Sqlite(text.to_owned())
        }
    }

    /// The database's size in bytes now.
    pub async fn size(&self) -> anyhow::Result<u64> {
        match self {
            Database::Sqlite(path) => {
                let file = |p: &str| std::fs::metadata(Path::new(p)).map_or(0, |m| m.len());
                Ok(file(path) + file(&format!("{path}-wal")))
            }
            Database::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .context("connecting to PostgreSQL")?;
                let task = tokio::spawn(connection);
                let row = client
                    .query_one("SELECT pg_database_size(current_database())", &[])
                    .await
                    .context("pg_database_size")?;
                drop(client);
                let _ = task.await;
                Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
            }
        }
    }
}

/// `grown` bytes over `elapsed`, as bytes per day.
pub fn per_day(grown: i64, elapsed: Duration) -> i64 {
    let millis = i128::try_from(elapsed.as_millis()).unwrap_or(i128::MAX);
    if millis == 0 {
        return 0;
    }
    let day = i128::from(grown) * 86_400_000 / millis;
    i64::try_from(day).unwrap_or(if day < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_scales_to_a_day() {
        assert_eq!(per_day(1_000, Duration::from_secs(60)), 1_440_000);
        assert_eq!(per_day(-10, Duration::from_secs(86_400)), -10);
        assert_eq!(per_day(5, Duration::ZERO), 0);
    }

    #[test]
    fn database_kind_from_its_text() {
        assert!(matches!(
            Database::parse("postgres://x@h/db"),
            Database::Postgres(_)
        ));
        assert!(matches!(
            Database::parse("./central.db"),
            Database::Sqlite(_)
        ));
    }
}
