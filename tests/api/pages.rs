//! The pages' HTML shells and built assets (the browser tests in
//! `tests/browser` drive them in Chromium).

use crate::db_tests;
use crate::helpers::{Db, TestApp, spawn_app_with};

/// A page's HTML shell: 200, HTML, never cached.
async fn shell(app: &TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    res.text().await.unwrap()
}

async fn pages_load_the_hashed_module_and_answer_503_until_built(db: Db) {
    let assets = tempfile::tempdir().unwrap();
    let dir = assets.path().to_path_buf();
    // Not built: the page says so, the API works.
    let app = spawn_app_with(db, |s| s.assets_dir = dir.join("missing")).await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let page = app.get(&format!("/overlay/{show_id}"), None).await;
    assert_eq!(
        (page.status.as_u16(), page.code()),
        (503, "assets_unavailable")
    );

    std::fs::write(dir.join("widget-0123456789abcdef.js"), "export default 1;").unwrap();
    std::fs::write(
        dir.join("widget_bg-fedcba9876543210.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(dir.join("hls-0011223344556677.js"), "var Hls;").unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"js": "widget-0123456789abcdef.js", "wasm": "widget_bg-fedcba9876543210.wasm",
            "hls": "hls-0011223344556677.js"}"#,
    )
    .unwrap();
    // Built without the studio (an older build): the studio says so.
    let app = spawn_app_with(db, |s| s.assets_dir = dir.clone()).await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let page = app.get(&format!("/studio/{show_id}"), None).await;
    assert_eq!(
        (page.status.as_u16(), page.code()),
        (503, "assets_unavailable")
    );

    std::fs::write(dir.join("studio-00000000000000aa.js"), "export default 2;").unwrap();
    std::fs::write(
        dir.join("studio_bg-00000000000000bb.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"js": "widget-0123456789abcdef.js", "wasm": "widget_bg-fedcba9876543210.wasm",
            "hls": "hls-0011223344556677.js", "studio_js": "studio-00000000000000aa.js",
            "studio_wasm": "studio_bg-00000000000000bb.wasm"}"#,
    )
    .unwrap();
    std::fs::write(dir.join("secret.txt"), "not an asset").unwrap();
    let app = spawn_app_with(db, |s| s.assets_dir = dir.clone()).await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let html = shell(&app, &format!("/overlay/{show_id}")).await;
    assert!(
        html.contains("/assets/widget-0123456789abcdef.js"),
        "{html}"
    );
    assert!(
        html.contains("/assets/widget_bg-fedcba9876543210.wasm"),
        "{html}"
    );
    assert!(html.contains(&format!(
        "mount_overlay(document.getElementById(\"dropcast\"), location.origin, \"{show_id}\")"
    )));
    assert!(
        html.len() < 2048,
        "the shell stays small: {} bytes",
        html.len()
    );

    // The watch page loads hls.js too; embed.js points at this server.
    let html = shell(&app, &format!("/watch/{show_id}")).await;
    assert!(
        html.contains(r#"<script defer src="/assets/hls-0011223344556677.js">"#),
        "{html}"
    );
    assert!(html.contains("mount_watch("), "{html}");
    let embed = app.client.get(app.url("/embed.js")).send().await.unwrap();
    assert_eq!(
        embed.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let js = embed.text().await.unwrap();
    assert!(js.contains("attachShadow"), "{js}");
    assert!(
        js.contains(&format!("\"{}\"", app.state.settings.public_base())),
        "{js}"
    );
    assert!(js.contains("/assets/widget-0123456789abcdef.js"), "{js}");

    // The studio loads its own module and sends no referrer (its address
    // carries the token until the page takes it out).
    let html = shell(&app, &format!("/studio/{show_id}?token=dcc_x")).await;
    assert!(
        html.contains("/assets/studio-00000000000000aa.js"),
        "{html}"
    );
    assert!(
        html.contains("/assets/studio_bg-00000000000000bb.wasm"),
        "{html}"
    );
    assert!(html.contains("mount_studio("), "{html}");
    assert!(!html.contains("dcc_x"), "{html}");
    assert!(
        html.contains(r#"<meta name="referrer" content="no-referrer">"#),
        "{html}"
    );

    for (file, content_type) in [
        (
            "studio-00000000000000aa.js",
            "text/javascript; charset=utf-8",
        ),
        ("studio_bg-00000000000000bb.wasm", "application/wasm"),
        ("hls-0011223344556677.js", "text/javascript; charset=utf-8"),
        (
            "widget-0123456789abcdef.js",
            "text/javascript; charset=utf-8",
        ),
        ("widget_bg-fedcba9876543210.wasm", "application/wasm"),
    ] {
        let res = app
            .client
            .get(app.url(&format!("/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(res.headers()["content-type"], content_type);
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
    }
    for bad in [
        "secret.txt",
        "manifest.json",
        "..%2Fsecret.txt",
        "widget-0000000000000000.js",
    ] {
        let res = app.get(&format!("/assets/{bad}"), None).await;
        assert_eq!(res.status.as_u16(), 404, "{bad}");
    }
    for page in ["overlay", "watch", "studio"] {
        let unknown = app
            .get(&format!("/{page}/shw_0000000000000000"), None)
            .await;
        assert_eq!(
            (unknown.status.as_u16(), unknown.code()),
            (404, "show_not_found"),
            "{page}"
        );
    }
}

db_tests!(pages_load_the_hashed_module_and_answer_503_until_built);
