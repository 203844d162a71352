//! The replay buffer's index, a show's live flag, and what the studio is
//! told about its incoming stream (`stream_health`).

use sqlx::{AnyPool, FromRow};

use super::ShowRow;

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct SegmentRow {
    pub show_id: String,
    pub seq: i64,
    pub file: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: i64,
    pub starts_session: i64,
}

pub async fn show_by_stream_key(pool: &AnyPool, key: &str) -> Result<Option<ShowRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        crate::show_columns!(),
        " FROM shows WHERE stream_key = $1"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// The number the show's next segment gets: the buffer continues across
/// reconnects and restarts.
pub async fn next_segment_seq(pool: &AnyPool, show_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), -1) + 1 FROM segments WHERE show_id = $1")
        .bind(show_id)
        .fetch_one(pool)
        .await
}

pub async fn insert_segment(
    pool: &AnyPool,
    s: &SegmentRow,
    node_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO segments (show_id, seq, file, start_ms, end_ms, bytes, starts_session, node_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (show_id, seq) DO NOTHING",
    )
    .bind(&s.show_id)
    .bind(s.seq)
    .bind(&s.file)
    .bind(s.start_ms)
    .bind(s.end_ms)
    .bind(s.bytes)
    .bind(s.starts_session)
    .bind(node_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The internal URL of the node that recorded a segment, unless it is
/// `me` (or unknown).
pub async fn segment_origin(
    pool: &AnyPool,
    show_id: &str,
    seq: i64,
    me: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT n.internal_url FROM segments s JOIN nodes n ON n.node_id = s.node_id
         WHERE s.show_id = $1 AND s.seq = $2 AND s.node_id <> $3",
    )
    .bind(show_id)
    .bind(seq)
    .bind(me)
    .fetch_optional(pool)
    .await
}

/// The internal URL of the node publishing the show now, unless it is `me`
/// (or nobody, or a node whose heartbeat is older than `stale_before_ms`).
pub async fn live_origin(
    pool: &AnyPool,
    show_id: &str,
    me: &str,
    stale_before_ms: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT n.internal_url FROM shows s JOIN nodes n
             ON n.node_id = s.ingest_node AND n.instance_id = s.ingest_instance
         WHERE s.id = $1 AND s.ingest_session IS NOT NULL AND s.ingest_node <> $2
           AND n.heartbeat_at_ms >= $3",
    )
    .bind(show_id)
    .bind(me)
    .bind(stale_before_ms)
    .fetch_optional(pool)
    .await
}

/// The show's newest `limit` segments, oldest first.
pub async fn latest_segments(
    pool: &AnyPool,
    show_id: &str,
    limit: i64,
) -> Result<Vec<SegmentRow>, sqlx::Error> {
    let mut rows: Vec<SegmentRow> = sqlx::query_as(
        "SELECT show_id, seq, file, start_ms, end_ms, bytes, starts_session FROM segments
         WHERE show_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(show_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// The segments overlapping `[from_ms, to_ms)`, oldest first.
pub async fn segments_between(
    pool: &AnyPool,
    show_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SegmentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT show_id, seq, file, start_ms, end_ms, bytes, starts_session FROM segments
         WHERE show_id = $1 AND end_ms > $2 AND start_ms < $3 ORDER BY seq",
    )
    .bind(show_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await
}

pub async fn segment(
    pool: &AnyPool,
    show_id: &str,
    seq: i64,
) -> Result<Option<SegmentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT show_id, seq, file, start_ms, end_ms, bytes, starts_session FROM segments
         WHERE show_id = $1 AND seq = $2",
    )
    .bind(show_id)
    .bind(seq)
    .fetch_optional(pool)
    .await
}

/// `(start_ms, end_ms)` of the whole buffer, if it holds anything.
pub async fn buffer_span(pool: &AnyPool, show_id: &str) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let span: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(start_ms), MAX(end_ms) FROM segments WHERE show_id = $1")
            .bind(show_id)
            .fetch_one(pool)
            .await?;
    Ok(span.0.zip(span.1))
}

/// Removes the index rows of segments that ended before `cutoff_ms`, except
/// those a queued or running clip is made of; returns them so their files can
/// be deleted after.
pub async fn trim_segments(
    pool: &AnyPool,
    show_id: &str,
    cutoff_ms: i64,
    max_bytes: i64,
) -> Result<Vec<SegmentRow>, sqlx::Error> {
    // Older than the cutoff, or past the byte budget counting from the
    // newest (which is always kept).
    sqlx::query_as(
        "DELETE FROM segments WHERE show_id = $1
           AND (end_ms < $2 OR seq <= COALESCE((
                 SELECT MAX(seq) FROM (
                   SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS newer
                   FROM segments WHERE show_id = $1) budget
                 WHERE newer > $3), -1))
           AND seq < (SELECT MAX(seq) FROM segments WHERE show_id = $1)
           AND NOT EXISTS (SELECT 1 FROM clips c WHERE c.show_id = segments.show_id
                             AND c.status IN ('queued', 'running')
                             AND segments.seq BETWEEN c.first_seq AND c.last_seq)
         RETURNING show_id, seq, file, start_ms, end_ms, bytes, starts_session",
    )
    .bind(show_id)
    .bind(cutoff_ms)
    .bind(max_bytes)
    .fetch_all(pool)
    .await
}

/// What the studio is told about a show's incoming stream.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct StreamHealthRow {
    pub session_started_at_ms: i64,
    pub keyframe_interval_ms: Option<i64>,
    pub cut_code: Option<String>,
    pub cut_detail: Option<String>,
    pub cut_at_ms: Option<i64>,
    pub cuts: i64,
}

/// A publisher's session began: the measurement starts again (the last
/// cut is kept, for the studio to say why the previous session ended).
pub async fn stream_started(pool: &AnyPool, show_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stream_health (show_id, session_started_at_ms) VALUES ($1, $2)
         ON CONFLICT (show_id) DO UPDATE
           SET session_started_at_ms = $2, keyframe_interval_ms = NULL",
    )
    .bind(show_id)
    .bind(crate::now_ms())
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn set_keyframe_interval(
    pool: &AnyPool,
    show_id: &str,
    interval_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stream_health SET keyframe_interval_ms = $2 WHERE show_id = $1")
        .bind(show_id)
        .bind(interval_ms)
        .execute(pool)
        .await
        .map(|_| ())
}

/// The server cut the show's stream off, and why.
pub async fn record_cut(
    pool: &AnyPool,
    show_id: &str,
    code: &str,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stream_health SET cut_code = $2, cut_detail = $3, cut_at_ms = $4, cuts = cuts + 1
         WHERE show_id = $1",
    )
    .bind(show_id)
    .bind(code)
    .bind(detail)
    .bind(crate::now_ms())
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn stream_health(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Option<StreamHealthRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_started_at_ms, keyframe_interval_ms, cut_code, cut_detail, cut_at_ms, cuts
         FROM stream_health WHERE show_id = $1",
    )
    .bind(show_id)
    .fetch_optional(pool)
    .await
}

/// Sets the show's live flag; returns the show's new version if it changed.
/// The first time a show goes live, its "live now" notice is scheduled in
/// the same transaction (once per show: a stream that drops and comes back
/// does not tell everyone again).
pub async fn set_live(
    pool: &AnyPool,
    show_id: &str,
    live: bool,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE shows SET live = $2, version = version + 1,
             went_live_at_ms = CASE WHEN $2 = 1 THEN COALESCE(went_live_at_ms, $3) ELSE went_live_at_ms END
         WHERE id = $1 AND live <> $2 RETURNING version",
    )
    .bind(show_id)
    .bind(i64::from(live))
    .bind(crate::now_ms())
    .fetch_optional(&mut *tx)
    .await?;
    if live && version.is_some() {
        super::announcements::schedule(
            &mut *tx,
            super::announcements::NewNotice {
                show_id,
                kind: crate::domain::announce::NoticeKind::Live,
                product_id: None,
                text: "",
                dedupe_key: &format!("live:{show_id}"),
                due_at_ms: crate::now_ms(),
                wake_limit: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(version)
}

/// Takes the show's publishing lease for `session`: true if nobody holds
/// it, or this node does (a session of this process whose end is still on
/// its way, or of the node's earlier process), or its holder's heartbeat is
/// older than `stale_before_ms` or names another process of its node.
pub async fn claim_ingest(
    pool: &AnyPool,
    show_id: &str,
    node_id: &str,
    instance_id: &str,
    session: &str,
    stale_before_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE shows SET ingest_node = $2, ingest_instance = $3, ingest_session = $4
         WHERE id = $1 AND (
             ingest_session IS NULL
             OR ingest_node = $2
             OR NOT EXISTS (SELECT 1 FROM nodes n
                 WHERE n.node_id = shows.ingest_node AND n.instance_id = shows.ingest_instance
                   AND n.heartbeat_at_ms >= $5))",
    )
    .bind(show_id)
    .bind(node_id)
    .bind(instance_id)
    .bind(session)
    .bind(stale_before_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `session` ended: if it still holds the show's lease, the show goes
/// offline and the lease is free. The show's version then, or `None` if
/// the lease had passed to someone else.
pub async fn end_ingest(
    pool: &AnyPool,
    show_id: &str,
    session: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE shows SET live = 0, version = version + 1,
             ingest_node = NULL, ingest_instance = NULL, ingest_session = NULL
         WHERE id = $1 AND ingest_session = $2 RETURNING version",
    )
    .bind(show_id)
    .bind(session)
    .fetch_optional(pool)
    .await
}

/// Shows whose publisher is gone with its process: those leased by this
/// node's earlier processes, by a node whose heartbeat is older than
/// `stale_before_ms` (or that another process of the node replaced), and
/// those left live with no lease. They go offline and their lease is
/// freed; returns each one's id and new version.
pub async fn settle_orphaned_ingest(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
    stale_before_ms: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE shows SET live = 0, version = version + 1,
             ingest_node = NULL, ingest_instance = NULL, ingest_session = NULL
         WHERE (live = 1 OR ingest_session IS NOT NULL) AND (
             ingest_session IS NULL
             OR (ingest_node = $1 AND ingest_instance <> $2)
             OR (ingest_node <> $1 AND NOT EXISTS (SELECT 1 FROM nodes n
                 WHERE n.node_id = shows.ingest_node AND n.instance_id = shows.ingest_instance
                   AND n.heartbeat_at_ms >= $3)))
         RETURNING id, version",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(stale_before_ms)
    .fetch_all(pool)
    .await
}

/// Segments whose thumbnail was never made (a restart cut the work short),
/// oldest first.
pub async fn segments_without_thumbnail(pool: &AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT show_id, seq FROM segments WHERE thumbnail = 0 ORDER BY end_ms LIMIT 10000",
    )
    .fetch_all(pool)
    .await
}

/// Records that the segment's thumbnail exists; false if the segment is gone
/// (trimmed while the thumbnail was made).
pub async fn set_thumbnail(pool: &AnyPool, show_id: &str, seq: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE segments SET thumbnail = 1 WHERE show_id = $1 AND seq = $2")
        .bind(show_id)
        .bind(seq)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// `(seq, start_ms)` of the show's segments that have a thumbnail, oldest first.
pub async fn thumbnails(pool: &AnyPool, show_id: &str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, start_ms FROM segments WHERE show_id = $1 AND thumbnail = 1 ORDER BY seq",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await
}
