//! Creators: made by the admin over HTTP, or by `dropcast admin create-creator`.

use serde_json::json;

use crate::db_tests;
use crate::helpers::{ADMIN_TOKEN, Db, spawn_app, spawn_app_on};

async fn admin_creates_a_creator_whose_token_works(db: Db) {
    let app = spawn_app(db).await;
    let body = app
        .post(
            "/api/v1/creators",
            Some(ADMIN_TOKEN),
            json!({"name": "  Ada Live  "}),
        )
        .await
        .expect(201);
    assert_eq!(body["name"], "Ada Live");
    assert!(body["id"].as_str().unwrap().starts_with("cr_"));
    let token = body["token"].as_str().unwrap();
    assert!(token.len() >= 64, "tokens are long random values");
    app.show(token, "First show").await;
}

async fn tokens_are_stored_hashed(db: Db) {
    let app = spawn_app(db).await;
    let (_, token) = app.creator("Hash Check").await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM tokens")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert!(!stored[0].contains(&token[4..]));
}

async fn cli_creates_a_creator_against_the_configured_database(db: Db) {
    let app = spawn_app(db).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dropcast"))
        .args(["admin", "create-creator", "--name", "From CLI"])
        .env("DATABASE_URL", &app.database_url)
        .env("DROPCAST_DATA_DIR", app.data_dir.path())
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("dropcast runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("dcc_"), "{token}");
    // The running server, on the same database, accepts it.
    app.show(&token, "CLI show").await;
}

async fn cli_refuses_a_bad_name_and_changes_nothing(db: Db) {
    let app = spawn_app(db).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dropcast"))
        .args(["admin", "create-creator", "--name", ""])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM creators")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

async fn data_survives_a_restart(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(3).await;
    let (db, url) = (app.db, app.database_url.clone());
    let crate::helpers::TestApp {
        data_dir, state, ..
    } = app;
    state.pool.close().await;
    let again = spawn_app_on(db, url, data_dir, |_| {}).await;
    let show = again
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(show["products"][0]["available"], 3);
}

db_tests!(
    admin_creates_a_creator_whose_token_works,
    tokens_are_stored_hashed,
    cli_creates_a_creator_against_the_configured_database,
    cli_refuses_a_bad_name_and_changes_nothing,
    data_survives_a_restart,
);

/// Runs the real binary at the most verbose log level, sends requests carrying
/// tokens in headers, bodies and query strings, and finds none of them in the logs.
#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let admin = "admin-secret-token-for-the-log-test";
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dropcast"))
        .arg("serve")
        .env("DROPCAST_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("DROPCAST_DATA_DIR", dir.path())
        .env("DROPCAST_RTMP_ADDR", "127.0.0.1:0")
        .env("DROPCAST_SRT_ADDR", "127.0.0.1:0")
        .env("DROPCAST_ADMIN_TOKEN", admin)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read while it runs: trace logs outgrow a pipe's buffer, and a server
    // blocked on a full stderr answers nothing.
    let mut stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        all
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start");
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/creators"))
        .bearer_auth(admin)
        .json(&json!({"name": "Logged"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let creator = created["token"].as_str().unwrap().to_string();
    let show: serde_json::Value = client
        .post(format!("{base}/api/v1/shows"))
        .bearer_auth(&creator)
        .json(&json!({"title": "Quiet"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stream_key = show["stream_key"].as_str().unwrap().to_string();
    let _ = client
        .get(format!(
            "{base}/studio/{}?token={creator}",
            show["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let _ = client
        .get(format!("{base}/api/v1/shows"))
        .bearer_auth(format!("{creator}x"))
        .send()
        .await
        .unwrap();
    // SIGTERM: a graceful stop that flushes the logs.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("server stops on SIGTERM")
        .unwrap();
    let logs = logs.await.unwrap();
    let logs = String::from_utf8_lossy(&logs);
    assert!(logs.contains("handled"), "request logs expected: {logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    for secret in [admin, creator.as_str(), &creator[4..], stream_key.as_str()] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
