//! `GET /healthz` and `GET /metrics`: for load balancers and Prometheus.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// 200 once the database answers (migrations ran before the server bound).
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&state.pool),
    )
    .await;
    match ping {
        Ok(Ok(_)) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(serde_json::json!({"status": "ok"})),
        _ => HttpResponse::ServiceUnavailable()
            .insert_header(("cache-control", "no-store"))
            .json(serde_json::json!({
                "status": "unavailable",
                "error": {"code": "database_unavailable", "message": "the database is not answering"}
            })),
    }
}

/// Prometheus text exposition; behind `DROPCAST_METRICS_TOKEN` when set.
pub async fn metrics(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.settings.metrics_token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let ok = given.is_some_and(|g| {
            use subtle::ConstantTimeEq;
            let (a, b) = (
                Sha256::digest(g.as_bytes()),
                Sha256::digest(expected.as_bytes()),
            );
            bool::from(a.ct_eq(&b))
        });
        if !ok {
            return Err(match given {
                None => ApiError::unauthorized(
                    "missing_token",
                    "/metrics needs `Authorization: Bearer` with DROPCAST_METRICS_TOKEN",
                ),
                Some(_) => ApiError::unauthorized("invalid_token", "not the metrics token"),
            });
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(with_bus(
            state.metrics.render(),
            state.hub.bus(),
            state.limits.fallbacks(),
        )))
}

/// The exposition with the bus's counters (and the requests rate-limited
/// without Redis, `rate_limit_fallbacks`) added before its end, in a cluster.
fn with_bus(mut text: String, bus: Option<&bus::Bus>, fallbacks: u64) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let Some(bus) = bus else { return text };
    let stats = bus.stats();
    let body_end = text.rfind("# EOF").unwrap_or(text.len());
    text.truncate(body_end);
    for (name, help, value) in [
        (
            "bus_published",
            "Live changes handed to Redis for the other nodes.",
            stats.published.load(Relaxed),
        ),
        (
            "bus_lost",
            "Live changes Redis could not take (announced, and reloaded by the other nodes).",
            stats.lost.load(Relaxed),
        ),
        (
            "bus_received",
            "Live changes heard from the other nodes.",
            stats.received.load(Relaxed),
        ),
        (
            "bus_reconnects",
            "Times the Redis subscription came back after a loss.",
            stats.reconnects.load(Relaxed),
        ),
        (
            "rate_limit_fallbacks",
            "Requests rate-limited by this node alone because Redis did not answer in time.",
            fallbacks,
        ),
    ] {
        let _ = write!(
            text,
            "# HELP dropcast_{name} {help}\n# TYPE dropcast_{name} counter\ndropcast_{name}_total {value}\n"
        );
    }
    text.push_str("# EOF\n");
    text
}
