//! Clip jobs.

use sqlx::{AnyPool, FromRow};

use crate::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct ClipRow {
    pub id: String,
    pub show_id: String,
    pub status: String,
    pub progress_permille: i64,
    pub format: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The start the caller asked for; `start_ms` is the keyframe at or
    /// before it. None for clips made before it was kept.
    pub asked_start_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub product_id: Option<String>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

macro_rules! clip_columns {
    () => {
        "id, show_id, status, progress_permille, format, first_seq, last_seq, start_ms, end_ms, \
         asked_start_ms, duration_ms, bytes, product_id, error, created_at_ms, updated_at_ms"
    };
}

pub struct NewClip<'a> {
    pub id: &'a str,
    pub show_id: &'a str,
    pub format: &'a str,
    pub first_seq: i64,
    pub last_seq: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub asked_start_ms: i64,
    pub product_id: Option<&'a str>,
}

pub async fn insert_clip(pool: &AnyPool, c: NewClip<'_>) -> Result<ClipRow, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(concat!(
        "INSERT INTO clips (id, show_id, status, format, first_seq, last_seq, start_ms, end_ms,
             asked_start_ms, product_id, created_at_ms, updated_at_ms)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
        clip_columns!()
    ))
    .bind(c.id)
    .bind(c.show_id)
    .bind(c.format)
    .bind(c.first_seq)
    .bind(c.last_seq)
    .bind(c.start_ms)
    .bind(c.end_ms)
    .bind(c.asked_start_ms)
    .bind(c.product_id)
    .bind(now)
    .fetch_one(pool)
    .await
}

pub async fn get_clip(pool: &AnyPool, id: &str) -> Result<Option<ClipRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        clip_columns!(),
        " FROM clips WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The show's clips, newest first.
pub async fn clips_of_show(pool: &AnyPool, show_id: &str) -> Result<Vec<ClipRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        clip_columns!(),
        " FROM clips WHERE show_id = $1 ORDER BY created_at_ms DESC, id LIMIT 500"
    ))
    .bind(show_id)
    .fetch_all(pool)
    .await
}

/// Takes the oldest queued clip of `format` for a worker, if any. The
/// conditional update makes two workers never take the same clip.
pub async fn claim_next(pool: &AnyPool, format: &str) -> Result<Option<ClipRow>, sqlx::Error> {
    loop {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT id FROM clips WHERE status = 'queued' AND format = $1 ORDER BY created_at_ms, id LIMIT 1",
        )
        .bind(format)
        .fetch_optional(pool)
        .await?;
        let Some(id) = next else { return Ok(None) };
        let claimed: Option<ClipRow> = sqlx::query_as(concat!(
            "UPDATE clips SET status = 'running', updated_at_ms = $2 WHERE id = $1 AND status = 'queued' RETURNING ",
            clip_columns!()
        ))
        .bind(&id)
        .bind(now_ms())
        .fetch_optional(pool)
        .await?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
}

pub async fn set_progress(
    pool: &AnyPool,
    id: &str,
    permille: i64,
) -> Result<Option<ClipRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE clips SET progress_permille = $2, updated_at_ms = $3 WHERE id = $1 AND status = 'running' RETURNING ",
        clip_columns!()
    ))
    .bind(id)
    .bind(permille)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

pub async fn finish(
    pool: &AnyPool,
    id: &str,
    duration_ms: i64,
    bytes: i64,
) -> Result<Option<ClipRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE clips SET status = 'done', progress_permille = 1000, duration_ms = $2, bytes = $3,
             updated_at_ms = $4 WHERE id = $1 RETURNING ",
        clip_columns!()
    ))
    .bind(id)
    .bind(duration_ms)
    .bind(bytes)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

pub async fn fail(pool: &AnyPool, id: &str, error: &str) -> Result<Option<ClipRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE clips SET status = 'failed', error = $2, updated_at_ms = $3 WHERE id = $1 RETURNING ",
        clip_columns!()
    ))
    .bind(id)
    .bind(error)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

/// At start: clips a dead process was making go back in the queue.
pub async fn requeue_running(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE clips SET status = 'queued', progress_permille = 0 WHERE status = 'running'",
    )
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}
