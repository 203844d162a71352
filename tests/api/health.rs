//! Operations: health, metrics, the error shape of unknown routes.

use crate::db_tests;
use crate::helpers::{Db, spawn_app, spawn_app_with};
use reqwest::Method;

async fn healthz_answers_once_migrated(db: Db) {
    let app = spawn_app(db).await;
    let body = app.get("/healthz", None).await.expect(200);
    assert_eq!(body["status"], "ok");
    // Migrations ran: the tables exist.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shows")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

async fn healthz_is_503_when_the_database_is_gone(db: Db) {
    let app = spawn_app(db).await;
    app.state.pool.close().await;
    let answer = app.get("/healthz", None).await;
    assert_eq!(answer.status, 503);
}

async fn unknown_routes_and_methods_get_json_errors(db: Db) {
    let app = spawn_app(db).await;
    let answer = app.get("/nope", None).await;
    assert_eq!((answer.status.as_u16(), answer.code()), (404, "not_found"));
    let answer = app
        .call(Method::DELETE, "/api/v1/creators", None, None)
        .await;
    assert_eq!(answer.status.as_u16(), 405);
    assert_eq!(answer.code(), "method_not_allowed");
    assert!(answer.body["error"]["message"].is_string());
}

async fn metrics_count_requests_by_route_and_responses_carry_request_ids(db: Db) {
    let app = spawn_app(db).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = res
        .headers()
        .get("x-request-id")
        .expect("request id header");
    assert_eq!(id.len(), 16);
    let (_, token) = app.creator("Metric Maker").await;
    app.show(&token, "Counted").await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"dropcast_http_requests_total{method="POST",route="/api/v1/shows",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("dropcast_live_sockets"), "{text}");
    assert!(
        text.contains("dropcast_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// Invented methods are counted as `other`, so they cannot grow the label
/// set; with DROPCAST_METRICS_TOKEN set, /metrics needs it.
async fn metrics_labels_are_bounded_and_can_be_behind_a_token(db: Db) {
    let app = spawn_app_with(db, |s| s.metrics_token = Some("metrics-secret-123".into())).await;
    for name in ["BREW", "WHEN", "PROPFIND"] {
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        app.call(method, "/api/v1/shows", None, None).await;
    }
    let scrape = |token: Option<&'static str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let refused = scrape(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(scrape(Some("wrong")).await.unwrap().status(), 401);
    let text = scrape(Some("metrics-secret-123"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"dropcast_http_requests_total{method="other",route="/api/v1/shows",status="405"} 3"#
        ),
        "{text}"
    );
    for name in ["BREW", "WHEN", "PROPFIND"] {
        assert!(!text.contains(name), "{name} is not a label: {text}");
    }
}

db_tests!(
    metrics_labels_are_bounded_and_can_be_behind_a_token,
    healthz_answers_once_migrated,
    healthz_is_503_when_the_database_is_gone,
    unknown_routes_and_methods_get_json_errors,
    metrics_count_requests_by_route_and_responses_carry_request_ids,
);
