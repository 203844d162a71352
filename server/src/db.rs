//! The database: SQLite by default, PostgreSQL when `DATABASE_URL` says so.
//!
//! Both sit behind sqlx's runtime-generic `Any` driver, so every statement in
//! [`crate::store`] is written once, in the SQL both understand: `$1`
//! placeholders (SQLite reads them too), `BIGINT` integers, `TEXT` ids,
//! `RETURNING`, `ON CONFLICT`. Each database has its own migration folder
//! (`migrations/sqlite`, `migrations/postgres`) kept in step by hand.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::configuration::redact_url;

pub static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
pub static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Backend {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The database behind a pool (from the URL it connects to).
    pub fn of_pool(pool: &sqlx::AnyPool) -> Backend {
        Backend::of(pool.connect_options().database_url.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database: {0}")]
    Query(sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool on `url`, creating the SQLite file (and its folder) if needed.
pub async fn connect(url: &str) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url);
    let url = match backend {
        Backend::Sqlite => prepare_sqlite(url)?,
        Backend::Postgres => url.to_string(),
    };
    let options: AnyConnectOptions = url
        .parse::<AnyConnectOptions>()
        .map_err(|source| DbError::Connect {
            url: redact_url(&url),
            source,
        })?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    let pool_options = AnyPoolOptions::new()
        .max_connections(match backend {
            // One writer at a time either way; a few readers alongside it.
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(10));
    let pool_options = if backend == Backend::Sqlite {
        pool_options.after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer. FULL syncs the WAL
                // at every commit, so what committed before a card is charged
                // (the order and its PaymentIntent) survives power loss, not
                // only a process crash as NORMAL would.
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
                    .await?;
                Ok(())
            })
        })
    } else {
        pool_options
    };
    pool_options
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            url: redact_url(&url),
            source,
        })
}

/// Applies the pending migrations of the pool's database.
pub async fn migrate(pool: &AnyPool, url: &str) -> Result<(), DbError> {
    match Backend::of(url) {
        Backend::Sqlite => SQLITE_MIGRATIONS.run(pool).await?,
        Backend::Postgres => POSTGRES_MIGRATIONS.run(pool).await?,
    }
    Ok(())
}

/// Connects and migrates: what every entry point does first.
pub async fn open(url: &str) -> Result<AnyPool, DbError> {
    let pool = connect(url).await?;
    migrate(&pool, url).await?;
    Ok(pool)
}

/// Makes sure the SQLite file's folder exists and that the file is created.
fn prepare_sqlite(url: &str) -> Result<String, DbError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or("");
    if !path.is_empty()
        && path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| DbError::DataDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Whether `err` is a unique-constraint violation (duplicate SKU, replayed key, …).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
