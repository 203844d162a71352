//! `GET /healthz` and `GET /metrics`: for load balancers and Prometheus.

use std::time::Duration;

use actix_web::{HttpResponse, web};

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

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
