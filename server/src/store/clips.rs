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
/// Takes the oldest queued clip of `format` for this process (`node_id`,
/// `instance_id`), if any. In a cluster (`recorded_here`), only a clip
/// whose first segment this node recorded, or whose recorder is unknown
/// (recorded before there were clusters): clips are cut where the segments are.
pub async fn claim_next(
    pool: &AnyPool,
    format: &str,
    node_id: &str,
    instance_id: &str,
    recorded_here: bool,
) -> Result<Option<ClipRow>, sqlx::Error> {
    loop {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT c.id FROM clips c WHERE c.status = 'queued' AND c.format = $1
               AND ($3 = 0 OR EXISTS (SELECT 1 FROM segments s
                   WHERE s.show_id = c.show_id AND s.seq = c.first_seq
                     AND (s.node_id IS NULL OR s.node_id = $2)))
             ORDER BY c.created_at_ms, c.id LIMIT 1",
        )
        .bind(format)
        .bind(node_id)
        .bind(i64::from(recorded_here))
        .fetch_optional(pool)
        .await?;
        let Some(id) = next else { return Ok(None) };
        let claimed: Option<ClipRow> = sqlx::query_as(concat!(
            "UPDATE clips SET status = 'running', updated_at_ms = $2, owner_node = $3, owner_instance = $4
             WHERE id = $1 AND status = 'queued' RETURNING ",
            clip_columns!()
        ))
        .bind(&id)
        .bind(now_ms())
        .bind(node_id)
        .bind(instance_id)
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

/// The internal URL of the node that made a clip, unless it is `me`.
pub async fn maker_origin(
    pool: &AnyPool,
    clip_id: &str,
    me: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT n.internal_url FROM clips c JOIN nodes n ON n.node_id = c.owner_node
         WHERE c.id = $1 AND c.owner_node <> $2",
    )
    .bind(clip_id)
    .bind(me)
    .fetch_optional(pool)
    .await
}

/// Clips a process that is gone was making go back in the queue: this
/// node's earlier processes', those of nodes whose heartbeat is older than
/// `stale_before_ms`, and those that name no maker.
pub async fn requeue_orphaned(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
    stale_before_ms: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE clips SET status = 'queued', progress_permille = 0, owner_node = NULL, owner_instance = NULL
         WHERE status = 'running' AND (
             owner_node IS NULL
             OR (owner_node = $1 AND COALESCE(owner_instance, '') <> $2)
             OR (owner_node <> $1 AND NOT EXISTS (SELECT 1 FROM nodes n
                 WHERE n.node_id = clips.owner_node AND n.heartbeat_at_ms >= $3)))",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(stale_before_ms)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Keeps the clip's poster (a JPEG of its first frame).
pub async fn set_poster(pool: &AnyPool, id: &str, jpeg: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE clips SET poster = $2 WHERE id = $1")
        .bind(id)
        .bind(jpeg)
        .execute(pool)
        .await?;
    Ok(())
}

/// The clip's poster, if it has one.
pub async fn poster(pool: &AnyPool, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let found: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT poster FROM clips WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(found.flatten())
}

/// Whether the clip has a poster (without reading it).
pub async fn has_poster(pool: &AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM clips WHERE id = $1 AND poster IS NOT NULL")
            .bind(id)
            .fetch_one(pool)
            .await?;
    Ok(n > 0)
}

/// What a viewer did on a clip's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipEvent {
    /// The page was opened (the clip shown).
    View,
    /// The clip's product was tapped (Buy).
    Click,
}

impl ClipEvent {
    fn as_str(self) -> &'static str {
        match self {
            ClipEvent::View => "view",
            ClipEvent::Click => "click",
        }
    }
}

pub async fn record_event(
    pool: &AnyPool,
    id: &str,
    clip_id: &str,
    kind: ClipEvent,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO clip_events (id, clip_id, kind, at_ms) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(clip_id)
        .bind(kind.as_str())
        .bind(now_ms())
        .execute(pool)
        .await?;
    Ok(())
}

/// Counts `order_id` for `clip_id` (once, however often it is told).
pub async fn attribute_order(
    pool: &AnyPool,
    order_id: &str,
    clip_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clip_orders (order_id, clip_id) VALUES ($1, $2)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(clip_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// How one clip sells.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClipSales {
    pub clip_id: String,
    pub views: i64,
    pub clicks: i64,
    /// Paid orders placed from the clip's page.
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
}

/// Every finished clip of the show with its views, clicks and paid sales.
pub async fn sales_by_clip(pool: &AnyPool, show_id: &str) -> Result<Vec<ClipSales>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.id,
                (SELECT COUNT(*) FROM clip_events e WHERE e.clip_id = c.id AND e.kind = 'view'),
                (SELECT COUNT(*) FROM clip_events e WHERE e.clip_id = c.id AND e.kind = 'click'),
                (SELECT COUNT(*) FROM clip_orders co JOIN orders o ON o.id = co.order_id
                  WHERE co.clip_id = c.id AND o.status = 'paid'),
                (SELECT CAST(COALESCE(SUM(o.quantity), 0) AS BIGINT) FROM clip_orders co JOIN orders o ON o.id = co.order_id
                  WHERE co.clip_id = c.id AND o.status = 'paid'),
                (SELECT CAST(COALESCE(SUM(o.amount_cents), 0) AS BIGINT) FROM clip_orders co JOIN orders o ON o.id = co.order_id
                  WHERE co.clip_id = c.id AND o.status = 'paid')
           FROM clips c WHERE c.show_id = $1 AND c.status = 'done'
          ORDER BY c.created_at_ms, c.id",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(clip_id, views, clicks, orders, units, revenue_cents)| ClipSales {
                clip_id,
                views,
                clicks,
                orders,
                units,
                revenue_cents,
            },
        )
        .collect())
}
