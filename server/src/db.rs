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
                // WAL lets readers run beside the writer; NORMAL survives a
                // process crash. The writes that must survive power loss —
                // what commits before a card is charged — go through
                // [`execute_durably`], which syncs the WAL (and so every
                // commit before it) at its commit.
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
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

/// Runs one statement whose commit must survive power loss before the
/// caller goes on (the PaymentIntent recorded before the charge, a refund
/// owed). On SQLite it runs with `synchronous = FULL`, which syncs the WAL
/// at its commit — and with it every transaction committed before, such as
/// the order's hold. On PostgreSQL every commit is synchronous unless a
/// transaction says otherwise, so it runs as it is.
pub async fn execute_durably<'q>(
    pool: &AnyPool,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    if Backend::of_pool(pool) == Backend::Postgres {
        return query.execute(pool).await;
    }
    let mut conn = pool.acquire().await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    let result = query.execute(&mut *conn).await;
    // If this fails the connection stays FULL: slower, never less safe.
    let _ = conn.execute("PRAGMA synchronous = NORMAL").await;
    result
}

/// Asks PostgreSQL not to wait for this transaction's WAL flush: for moves
/// made after the charge, which a crash may undo and the settlement of the
/// order's PaymentIntent redoes (reconciliation, expiry, webhooks). A no-op
/// on SQLite, whose commits do not sync by default.
pub async fn commit_lazily(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT set_config('synchronous_commit', 'off', true)")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Whether `err` is a unique-constraint violation (duplicate SKU, replayed key, …).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
