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
    assert!(js.contains("attachShadow({ mode: \"closed\" })"), "{js}");
    assert!(js.contains("createElement(\"iframe\")"), "{js}");
    assert!(js.contains("\"/frame/\""), "{js}");
    assert!(
        js.contains("e.origin !== origin || e.source !== frame.contentWindow"),
        "messages only from the frame, on Dropcast's origin: {js}"
    );
    assert!(
        js.contains(&format!("\"{}\"", app.state.settings.public_base())),
        "{js}"
    );

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
    // Gzipped where the build left a `.gz`, to who takes it.
    std::fs::write(dir.join("widget-0123456789abcdef.js.gz"), b"\x1f\x8bgz").unwrap();
    let asset = async |accept: &str| {
        let res = app
            .client
            .get(app.url("/assets/widget-0123456789abcdef.js"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["vary"], "accept-encoding");
        let encoding = res
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        (encoding, res.bytes().await.unwrap().to_vec())
    };
    assert_eq!(
        asset("gzip, deflate, br").await,
        (Some("gzip".to_string()), b"\x1f\x8bgz".to_vec())
    );
    assert_eq!(
        asset("identity").await,
        (None, b"export default 1;".to_vec())
    );
    let missing_gz = app
        .client
        .get(app.url("/assets/hls-0011223344556677.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(missing_gz.headers().get("content-encoding").is_none());
    assert_eq!(missing_gz.text().await.unwrap(), "var Hls;");
    for bad in [
        "secret.txt",
        "manifest.json",
        "widget-0123456789abcdef.js.gz",
        "..%2Fsecret.txt",
        "widget-0000000000000000.js",
    ] {
        let res = app.get(&format!("/assets/{bad}"), None).await;
        assert_eq!(res.status.as_u16(), 404, "{bad}");
    }
    for page in ["overlay", "watch", "studio", "frame"] {
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

/// Writes a minimal built module into `dir` (the pages need a manifest).
pub(crate) fn fake_build(dir: &std::path::Path) {
    std::fs::write(dir.join("widget-0123456789abcdef.js"), "export default 1;").unwrap();
    std::fs::write(
        dir.join("widget_bg-fedcba9876543210.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(dir.join("studio-00000000000000aa.js"), "export default 2;").unwrap();
    std::fs::write(
        dir.join("studio_bg-00000000000000bb.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"js": "widget-0123456789abcdef.js", "wasm": "widget_bg-fedcba9876543210.wasm",
            "studio_js": "studio-00000000000000aa.js", "studio_wasm": "studio_bg-00000000000000bb.wasm"}"#,
    )
    .unwrap();
}

/// Every page carries a CSP whose nonce is the one of its inline loader;
/// the widget's frame and the watch page may be framed by the sites the
/// creator lists (any by default), the studio by none; every response
/// has nosniff and a referrer policy.
async fn pages_carry_a_csp_and_the_creator_chooses_who_frames_them(db: Db) {
    let assets = tempfile::tempdir().unwrap();
    fake_build(assets.path());
    let dir = assets.path().to_path_buf();
    let app = spawn_app_with(db, move |s| {
        crate::helpers::with_stripe(s);
        s.assets_dir = dir;
    })
    .await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let page = |path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move {
            let res = client.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let csp = res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(res.headers()["x-content-type-options"], "nosniff");
            let referrer = res.headers()["referrer-policy"]
                .to_str()
                .unwrap()
                .to_string();
            (csp, referrer, res.text().await.unwrap())
        }
    };
    let directive = |csp: &str, name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .to_string()
    };
    let frame = format!("/frame/{show_id}?parent=https%3A%2F%2Fshop.example");
    for path in [
        frame.clone(),
        format!("/watch/{show_id}"),
        format!("/overlay/{show_id}"),
    ] {
        let (csp, referrer, html) = page(path.clone()).await;
        let script = directive(&csp, "script-src");
        let nonce = script
            .split_whitespace()
            .find_map(|s| s.strip_prefix("'nonce-").map(|n| n.trim_end_matches('\'')))
            .expect("a nonce");
        assert!(
            html.contains(&format!("<script type=\"module\" nonce=\"{nonce}\">")),
            "{html}"
        );
        assert!(script.contains("'wasm-unsafe-eval'"), "{script}");
        assert!(
            script.contains(&crate::helpers::stripe_url()),
            "Stripe.js: {script}"
        );
        assert!(
            !script.contains("'unsafe-inline'") && !script.contains("'unsafe-eval'"),
            "{script}"
        );
        assert_eq!(
            directive(&csp, "frame-ancestors"),
            "frame-ancestors *",
            "{path}"
        );
        assert_eq!(directive(&csp, "object-src"), "object-src 'none'");
        assert_eq!(referrer, "strict-origin-when-cross-origin");
    }
    // Each response has its own nonce.
    assert_ne!(page(frame.clone()).await.0, page(frame.clone()).await.0);
    // The frame tells its size only to the parent it was given, and only
    // if that is really its parent; it takes no messages.
    let (_, _, html) = page(frame.clone()).await;
    assert!(
        html.contains("const parent = \"https://shop.example\";"),
        "{html}"
    );
    assert!(html.contains("ancestors[0] === parent"), "{html}");
    assert!(!html.contains("addEventListener(\"message\""), "{html}");
    let (_, _, html) = page(format!("/frame/{show_id}?parent=javascript:alert(1)")).await;
    assert!(
        !html.contains("postMessage"),
        "a bad parent gets no messages: {html}"
    );
    let (csp, referrer, _) = page(format!("/studio/{show_id}")).await;
    assert_eq!(directive(&csp, "frame-ancestors"), "frame-ancestors 'none'");
    assert_eq!(referrer, "no-referrer");

    // The creator lists the shops that may embed them.
    let me = app
        .get("/api/v1/creators/me", Some(&token))
        .await
        .expect(200);
    assert_eq!(me["embed_origins"], serde_json::Value::Null);
    let set = app
        .put(
            "/api/v1/creators/me/embed-origins",
            Some(&token),
            serde_json::json!({"origins": ["https://Shop.Example/", "http://localhost:3000"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        set["embed_origins"],
        serde_json::json!(["https://shop.example", "http://localhost:3000"])
    );
    for path in [frame.clone(), format!("/watch/{show_id}")] {
        let (csp, _, _) = page(path).await;
        assert_eq!(
            directive(&csp, "frame-ancestors"),
            "frame-ancestors 'self' https://shop.example http://localhost:3000"
        );
    }
    let bad = app
        .put(
            "/api/v1/creators/me/embed-origins",
            Some(&token),
            serde_json::json!({"origins": ["shop.example"]}),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_origins"));
    let missing = app
        .put(
            "/api/v1/creators/me/embed-origins",
            Some(&token),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(missing.code(), "missing_field");
    let kept = app
        .get("/api/v1/creators/me", Some(&token))
        .await
        .expect(200);
    assert_eq!(
        kept["embed_origins"], set["embed_origins"],
        "a refusal changes nothing"
    );
    app.put(
        "/api/v1/creators/me/embed-origins",
        Some(&token),
        serde_json::json!({"origins": null}),
    )
    .await
    .expect(200);
    let (csp, _, _) = page(frame).await;
    assert_eq!(directive(&csp, "frame-ancestors"), "frame-ancestors *");
    // The API too: nosniff and a referrer policy.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().contains_key("referrer-policy"));
}

db_tests!(
    pages_load_the_hashed_module_and_answer_503_until_built,
    pages_carry_a_csp_and_the_creator_chooses_who_frames_them,
);
