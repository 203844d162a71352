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
