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
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO nodes (node_id, instance_id, internal_url, started_at_ms, heartbeat_at_ms)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (node_id) DO UPDATE SET instance_id = $2, internal_url = $3,
             started_at_ms = $4, heartbeat_at_ms = $4",
    )
    .bind(node_id)
    .bind(instance_id)
    .bind(internal_url)
    .bind(now)
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
