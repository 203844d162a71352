//! The `nodes` table: which process runs each node, and its heartbeat.

use sqlx::AnyPool;

use crate::now_ms;

/// Registers `instance_id` as the process now running `node_id`, replacing
/// the node's previous instance (a restart).
pub async fn register(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
    internal_url: &str,
    roles: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO nodes (node_id, instance_id, internal_url, started_at_ms, heartbeat_at_ms,
                            roles, rtmp_base, srt_base)
         VALUES ($1, $2, $3, $4, $4, $5, NULL, NULL)
         ON CONFLICT (node_id) DO UPDATE SET instance_id = $2, internal_url = $3,
             started_at_ms = $4, heartbeat_at_ms = $4, roles = $5, rtmp_base = NULL, srt_base = NULL",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(internal_url)
    .bind(now)
    .bind(roles)
    .execute(pool)
    .await?;
    Ok(())
}

/// Renews the lease; false if another instance has taken the node over.
pub async fn heartbeat(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE nodes SET heartbeat_at_ms = $3 WHERE node_id = $1 AND instance_id = $2",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// This process is leaving (a graceful stop): its lease ends now, so other
/// nodes take its remaining work over at their next sweep instead of after
/// the lease would have lapsed.
pub async fn leave(pool: &AnyPool, node_id: &str, instance_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE nodes SET heartbeat_at_ms = 0 WHERE node_id = $1 AND instance_id = $2")
        .bind(node_id)
        .bind(instance_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records where publishers reach this (ingest) node, once its listeners
/// are bound.
pub async fn advertise_ingest(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
    rtmp_base: &str,
    srt_base: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE nodes SET rtmp_base = $3, srt_base = $4 WHERE node_id = $1 AND instance_id = $2",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(rtmp_base)
    .bind(srt_base)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every node that ever advertised ingest: `(node id, base, alive)`, alive
/// meaning its heartbeat is not older than `stale_before_ms`.
pub async fn ingest_nodes(
    pool: &AnyPool,
    stale_before_ms: i64,
) -> Result<Vec<(String, crate::node::IngestBase, bool)>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT node_id, rtmp_base, srt_base, heartbeat_at_ms FROM nodes
         WHERE rtmp_base IS NOT NULL AND srt_base IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, rtmp, srt, heartbeat)| {
            (
                id,
                crate::node::IngestBase { rtmp, srt },
                heartbeat >= stale_before_ms,
            )
        })
        .collect())
}
