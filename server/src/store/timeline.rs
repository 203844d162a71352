//! The show's commerce timeline (`show_events`): pins are written by the
//! pin's own transaction ([`super::set_pin`]); everything else by the live
//! hub's timeline writer ([`crate::live::timeline`]), with its JSON in `body`.

use sqlx::AnyPool;
use wire::{TimelineEvent, TimelineKind};

use crate::live::timeline::Entry;

/// `(kind, product_id)` columns of an event.
fn columns(kind: &TimelineKind) -> (&'static str, Option<&str>) {
    match kind {
        TimelineKind::Pin { product_id } => ("pin", product_id.as_deref()),
        TimelineKind::Countdown { countdown } => ("countdown", countdown.product_id.as_deref()),
        TimelineKind::CountdownRemoved { .. } => ("countdown", None),
        TimelineKind::Stock { product_id, .. } => ("stock", Some(product_id)),
        TimelineKind::Sold { product_id, .. } => ("sold", Some(product_id)),
        TimelineKind::Live { .. } => ("live", None),
    }
}

/// Writes the entries in one transaction; those of a show deleted since
/// (a draft show can be) are dropped.
pub async fn insert_events(pool: &AnyPool, entries: &[Entry]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for e in entries {
        let (kind, product_id) = columns(&e.event);
        let body = serde_json::to_string(&e.event).unwrap_or_default();
        sqlx::query(
            "INSERT INTO show_events (id, show_id, kind, product_id, at_ms, body)
             SELECT $1, $2, $3, $4, $5, $6
             WHERE EXISTS (SELECT 1 FROM shows WHERE id = $2)",
        )
        .bind(crate::domain::ids::new_id("ev"))
        .bind(&e.show_id)
        .bind(kind)
        .bind(product_id)
        .bind(e.at_ms)
        .bind(body)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The show's events in `[from_ms, to_ms]`, oldest first (at most 5,000).
pub async fn events_between(
    pool: &AnyPool,
    show_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let rows: Vec<(String, Option<String>, i64, Option<String>)> = sqlx::query_as(
        "SELECT kind, product_id, at_ms, body FROM show_events
         WHERE show_id = $1 AND at_ms >= $2 AND at_ms <= $3 ORDER BY at_ms, id LIMIT 5000",
    )
    .bind(show_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, product_id, at_ms, body)| {
            let event = match body {
                Some(body) => serde_json::from_str(&body).ok()?,
                None if kind == "pin" => TimelineKind::Pin { product_id },
                None => return None,
            };
            Some(TimelineEvent { at_ms, event })
        })
        .collect())
}

/// The pins of the show from the last one at or before `from_ms` to
/// `to_ms`, oldest first: what was pinned at every moment of that span
/// (`None` before the show's first pin). `(at_ms, product_id)`.
pub async fn pins_over(
    pool: &AnyPool,
    show_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, Option<String>)>, sqlx::Error> {
    let before: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT at_ms, product_id FROM show_events
         WHERE show_id = $1 AND kind = 'pin' AND at_ms <= $2 ORDER BY at_ms DESC, id DESC LIMIT 1",
    )
    .bind(show_id)
    .bind(from_ms)
    .fetch_optional(pool)
    .await?;
    let during: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT at_ms, product_id FROM show_events
         WHERE show_id = $1 AND kind = 'pin' AND at_ms > $2 AND at_ms <= $3
         ORDER BY at_ms, id LIMIT 5000",
    )
    .bind(show_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    Ok(before.into_iter().chain(during).collect())
}
