//! Announcements end to end: subscriptions by Web Push (a push service the
//! test runs, which checks VAPID and decrypts) and by email (a real SMTP
//! server, double opt-in), the two-minute drop notice, restock batches,
//! notices by hand, tracking links with time to first click and orders,
//! one-click unsubscribe, and bad input.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    CARD_OK, Db, PushService, SmtpSink, TestApp, push_id, spawn_app_with, with_stripe,
};

async fn announcing(db: Db, smtp: Option<&SmtpSink>) -> TestApp {
    let smtp_url = smtp.map(|s| s.url.clone());
    spawn_app_with(db, move |s| {
        with_stripe(s);
        s.smtp_url = smtp_url;
        s.mail_from = Some("Dropcast <no-reply@dropcast.test>".into());
        // The test's push service is plain HTTP on loopback.
        s.announce.push_allow_http = true;
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await
}

async fn subscribe(app: &TestApp, show_id: &str, body: Value) -> Value {
    app.post(
        &format!("/api/v1/shows/{show_id}/subscriptions"),
        None,
        body,
    )
    .await
    .expect(201)
}

/// A client that does not follow redirects (to read tracking links).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The first `http…` link in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_string()
}

/// Follows an email's confirmation link: 303 to the show's page.
async fn confirm(app: &TestApp, letter: &Value) {
    let url = link(
        letter["text"].as_str().unwrap(),
        &app.url("/subscriptions/"),
    );
    let res = no_redirects().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303, "{url}");
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/watch/")
    );
}

async fn notices(app: &TestApp, token: &str, show_id: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/shows/{show_id}/stats"), Some(token))
        .await
        .expect(200)["notices"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_drop_notice_reaches_both_channels_two_minutes_before(db: Db) {
    let smtp = SmtpSink::start().await;
    let pushes = PushService::start().await;
    let app = announcing(db, Some(&smtp)).await;
    let (_, token) = app.creator("Ada's Atelier").await;
    let show = app.show(&token, "Drop night").await;
    let show_id = show["id"].as_str().unwrap();
    let product = app.product(&token, show_id, "HOOD-1", 12).await;
    let product_id = product["id"].as_str().unwrap();

    // A browser's "remind me": active at once.
    let browser = pushes.subscribe().await;
    let sub = subscribe(
        &app,
        show_id,
        json!({"channel": "push", "subscription": browser, "source": "watch:remind_me"}),
    )
    .await;
    assert_eq!(sub["status"], "active");
    // The same browser asking again is the same subscription.
    let again = subscribe(
        &app,
        show_id,
        json!({"channel": "push", "subscription": browser}),
    )
    .await;
    assert_eq!(again["id"], sub["id"]);
    // An email's: pending until its confirmation link is followed.
    let mail = subscribe(
        &app,
        show_id,
        json!({"channel": "email", "email": "grace@example.com", "source": "watch:remind_me"}),
    )
    .await;
    assert_eq!(mail["status"], "pending");
    let letters = smtp.wait_for("Confirm", 1, Duration::from_secs(10)).await;
    assert_eq!(letters.len(), 1, "the confirmation letter");
    assert_eq!(letters[0]["rcpt_tos"], json!(["grace@example.com"]));
    assert!(
        letters[0]["list_unsubscribe"]
            .as_str()
            .unwrap()
            .contains("/u/u_")
    );
    confirm(&app, &letters[0]).await;
    // Consent is kept with its time and where it was given.
    let (status, source, at): (String, String, i64) = sqlx::query_as(
        "SELECT status, consent_source, consent_at_ms FROM subscriptions WHERE id = $1",
    )
    .bind(mail["id"].as_str().unwrap())
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), source.as_str()),
        ("active", "watch:remind_me")
    );
    assert!(at > 0);

    // A three-minute drop: its notice goes at T-120 s, on both channels.
    let countdown = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "drop_opens", "seconds": 180, "product_id": product_id}),
        )
        .await
        .expect(201);
    let due_ms = countdown["ends_at_ms"].as_i64().unwrap() - 120_000;
    // Nothing goes early.
    tokio::time::sleep(Duration::from_millis(
        (due_ms - dropcast::now_ms() - 1_500).max(0) as u64,
    ))
    .await;
    assert!(pushes.messages().await.is_empty(), "nothing before T-120 s");
    assert!(smtp.wait_for("drops", 1, Duration::ZERO).await.is_empty());
    let pushed = pushes.wait_for("drops", 1, Duration::from_secs(5)).await;
    let mailed = smtp.wait_for("drops", 1, Duration::from_secs(5)).await;
    assert_eq!(
        (pushed.len(), mailed.len()),
        (1, 1),
        "one notice on each channel"
    );
    let push_at = pushed[0]["received_at_ms"].as_i64().unwrap();
    let mail_at = (mailed[0]["received_at"].as_f64().unwrap() * 1000.0) as i64;
    for (channel, at) in [("push", push_at), ("email", mail_at)] {
        assert!(
            at >= due_ms && at <= due_ms + 1_000,
            "{channel} arrived {} ms after T-120 s",
            at - due_ms
        );
    }
    // What it says: the product, its price and stock, the time left.
    let payload = &pushed[0]["payload"];
    assert_eq!(payload["title"], "Drop night");
    assert_eq!(
        payload["body"],
        "Product HOOD-1 drops in 2:00: USD 25.00, 12 available"
    );
    assert_eq!(pushed[0]["urgency"], "high");
    assert_eq!(
        pushed[0]["vapid_key"],
        app.get("/api/v1/push/vapid-public-key", None)
            .await
            .expect(200)["key"]
    );
    assert_eq!(mailed[0]["subject"], payload["body"]);
    assert_eq!(
        mailed[0]["list_unsubscribe_post"],
        "List-Unsubscribe=One-Click"
    );

    // Following the push's link: counted, then on to the watch page with a
    // ten-minute cookie that makes the next order the notice's.
    let track = payload["url"].as_str().unwrap();
    let res = no_redirects().get(track).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        format!("/watch/{show_id}").as_str()
    );
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains(&format!("Path=/api/v1/shows/{show_id}/orders")),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age=600"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    // The drop is not open yet: wait for it as a buyer would, then buy.
    let buyer = app.buyer(CARD_OK).await;
    let opens = countdown["ends_at_ms"].as_i64().unwrap();
    // (The test shortens the wait: the countdown is moved to end now.)
    app.patch(
        &format!(
            "/api/v1/shows/{show_id}/countdowns/{}",
            countdown["id"].as_str().unwrap()
        ),
        Some(&token),
        json!({"seconds": 1}),
    )
    .await
    .expect(200);
    assert!(opens > dropcast::now_ms());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let order = app
        .client
        .post(app.url(&format!("/api/v1/shows/{show_id}/orders")))
        .header("authorization", format!("Bearer {buyer}"))
        .header("cookie", &pair)
        .json(&json!({"product_id": product_id, "quantity": 1, "idempotency_key": "after-notice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201);
    // The email's link is clicked too, later.
    let mail_track = link(mailed[0]["text"].as_str().unwrap(), &app.url("/n/"));
    assert_eq!(
        no_redirects()
            .get(&mail_track)
            .send()
            .await
            .unwrap()
            .status(),
        302
    );

    let stats = notices(&app, &token, show_id).await;
    assert_eq!(stats.len(), 1, "{stats:?}");
    let drop = &stats[0];
    assert_eq!(drop["kind"], "drop_soon");
    assert_eq!(
        (drop["sent"].as_i64(), drop["delivered"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(drop["clicked"], 2);
    assert_eq!(drop["orders_within_10_min"], 1);
    let ttfc = drop["median_ms_to_first_click"].as_i64().unwrap();
    assert!(ttfc > 0 && ttfc < 60_000, "{ttfc}");
    // The same in /metrics.
    let metrics = app.metrics().await;
    for line in [
        "dropcast_notice_messages_total{kind=\"drop_soon\",channel=\"push\",outcome=\"delivered\"} 1",
        "dropcast_notice_messages_total{kind=\"drop_soon\",channel=\"email\",outcome=\"delivered\"} 1",
        "dropcast_notice_clicks_total{kind=\"drop_soon\"} 2",
        "dropcast_notice_orders_total{kind=\"drop_soon\"} 1",
        "dropcast_notice_time_to_first_click_seconds_count{kind=\"drop_soon\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

    // One click unsubscribes: the push's link (the service worker posts it)
    // and the letter's List-Unsubscribe (a mail client posts it).
    let unsub = payload["unsubscribe"].as_str().unwrap();
    assert_eq!(app.client.post(unsub).send().await.unwrap().status(), 200);
    let header = mailed[0]["list_unsubscribe"].as_str().unwrap();
    let mail_unsub = header.trim_matches(|c| c == '<' || c == '>');
    let res = app
        .client
        .post(mail_unsub)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A GET of the letter's link only offers the button.
    let page = app.client.get(mail_unsub).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    // The next notice reaches nobody.
    app.post(
        &format!("/api/v1/shows/{show_id}/notices"),
        Some(&token),
        json!({"text": "Last call: 10 hoodies left"}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        pushes
            .wait_for("Last call", 1, Duration::ZERO)
            .await
            .is_empty()
    );
    assert!(
        smtp.wait_for("Last call", 1, Duration::ZERO)
            .await
            .is_empty()
    );
    let stats = notices(&app, &token, show_id).await;
    assert_eq!(
        (stats[1]["kind"].as_str(), stats[1]["recipients"].as_i64()),
        (Some("manual"), Some(0))
    );
    assert!(
        pushes.refused().await.is_empty(),
        "{:?}",
        pushes.refused().await
    );
}

async fn double_opt_in_is_honoured(db: Db) {
    let smtp = SmtpSink::start().await;
    let app = announcing(db, Some(&smtp)).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    subscribe(
        &app,
        &show_id,
        json!({"channel": "email", "email": "unsure@example.com"}),
    )
    .await;
    let confirm_letter = smtp.wait_for("Confirm", 1, Duration::from_secs(10)).await;
    assert_eq!(confirm_letter.len(), 1);
    // Not confirmed: a notice does not reach the address.
    app.post(
        &format!("/api/v1/shows/{show_id}/notices"),
        Some(&token),
        json!({"text": "First notice"}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        smtp.wait_for("First notice", 1, Duration::ZERO)
            .await
            .is_empty()
    );
    // A forged confirmation link confirms nothing.
    let url = link(
        confirm_letter[0]["text"].as_str().unwrap(),
        &app.url("/subscriptions/"),
    );
    let forged = format!("{}0000", &url[..url.len() - 4]);
    assert_eq!(
        no_redirects().get(&forged).send().await.unwrap().status(),
        404
    );
    // Confirmed: the next one does.
    confirm(&app, &confirm_letter[0]).await;
    app.post(
        &format!("/api/v1/shows/{show_id}/notices"),
        Some(&token),
        json!({"text": "Second notice"}),
    )
    .await
    .expect(201);
    let got = smtp
        .wait_for("Second notice", 1, Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["rcpt_tos"], json!(["unsure@example.com"]));
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("Stop these emails:")
    );
    // Only the confirmation and the confirmed notice were ever sent.
    assert_eq!(smtp.messages().len(), 2);
}

async fn a_restock_wakes_the_first_batch_of_the_waitlist_only(db: Db) {
    let pushes = PushService::start().await;
    let app = announcing(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let product = app.product(&token, &show_id, "CAP-1", 1).await;
    let product_id = product["id"].as_str().unwrap().to_string();
    let set = app
        .patch(
            &format!("/api/v1/shows/{show_id}"),
            Some(&token),
            json!({"restock_wake_factor": 2}),
        )
        .await
        .expect(200);
    assert_eq!(set["restock_wake_factor"], 2);
    // Sold out, and twelve browsers wait for it, in order.
    let buyer = app.buyer(CARD_OK).await;
    app.order(&buyer, &show_id, &product_id, 1, "the-last-one")
        .await
        .expect(201);
    let mut waiting = Vec::new();
    for i in 0..12 {
        let browser = pushes.subscribe().await;
        subscribe(
            &app,
            &show_id,
            json!({"channel": "push", "subscription": browser, "product_id": product_id,
                   "source": "widget:notify_me"}),
        )
        .await;
        waiting.push(push_id(&browser));
        if i == 0 {
            // Someone who waits for the show, not the product, is not woken.
            subscribe(
                &app,
                &show_id,
                json!({"channel": "push", "subscription": pushes.subscribe().await}),
            )
            .await;
        }
    }
    // Five units back at a factor of 2: the first ten are woken, no more.
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        json!({"add_stock": 5}),
    )
    .await
    .expect(200);
    let woken = pushes
        .wait_for("is back", 10, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let woken_after = pushes.wait_for("is back", 0, Duration::ZERO).await;
    assert_eq!(woken.len(), 10);
    assert_eq!(woken_after.len(), 10, "no more than 5 × 2");
    let mut ids: Vec<String> = woken
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut first_ten = waiting[..10].to_vec();
    first_ten.sort();
    assert_eq!(ids, first_ten, "first come, first served");
    assert_eq!(
        woken[0]["payload"]["body"],
        "Product CAP-1 is back: 5 available, first come first served"
    );
    // One more unit: the next two.
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        json!({"add_stock": 1}),
    )
    .await
    .expect(200);
    let all = pushes
        .wait_for("is back", 12, Duration::from_secs(10))
        .await;
    let mut rest: Vec<String> = all[10..]
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    rest.sort();
    let mut last_two = waiting[10..].to_vec();
    last_two.sort();
    assert_eq!(rest, last_two);
    let stats = notices(&app, &token, &show_id).await;
    let restocks: Vec<i64> = stats
        .iter()
        .filter(|n| n["kind"] == "restock")
        .map(|n| n["recipients"].as_i64().unwrap())
        .collect();
    assert_eq!(restocks, vec![10, 2]);
}

async fn going_live_tells_everyone_once(db: Db) {
    let pushes = PushService::start().await;
    let app = announcing(db, None).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let browser = pushes.subscribe().await;
    subscribe(
        &app,
        &show_id,
        json!({"channel": "push", "subscription": browser}),
    )
    .await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let url = show["ingest"]["rtmp"].as_str().unwrap().to_string();
    // A stream that goes up, stops, and comes back: one "live now".
    for _ in 0..2 {
        assert!(
            crate::helpers::publish(&url, 3, false).await,
            "ffmpeg publishes"
        );
        let live = pushes
            .wait_for("is live now", 1, Duration::from_secs(15))
            .await;
        assert_eq!(live.len(), 1);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let live = pushes.wait_for("is live now", 1, Duration::ZERO).await;
    assert_eq!(live.len(), 1, "told once");
    assert_eq!(live[0]["payload"]["kind"], "live");
    let stats = notices(&app, &token, &show_id).await;
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0]["kind"].as_str(), stats[0]["delivered"].as_i64()),
        (Some("live"), Some(1))
    );
}

async fn a_forgotten_browser_is_dropped(db: Db) {
    let pushes = PushService::start().await;
    let app = announcing(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = pushes.subscribe().await;
    let sub = subscribe(
        &app,
        &show_id,
        json!({"channel": "push", "subscription": browser}),
    )
    .await;
    pushes.forget(&browser).await;
    app.post(
        &format!("/api/v1/shows/{show_id}/notices"),
        Some(&token),
        json!({"text": "Hello"}),
    )
    .await
    .expect(201);
    let mut status = String::new();
    for _ in 0..100 {
        status = sqlx::query_scalar("SELECT status FROM subscriptions WHERE id = $1")
            .bind(sub["id"].as_str().unwrap())
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        if status == "gone" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "gone");
    let stats = notices(&app, &token, &show_id).await;
    assert_eq!(
        (stats[0]["sent"].as_i64(), stats[0]["delivered"].as_i64()),
        (Some(1), Some(0))
    );
}

async fn a_scheduled_show_has_a_cover_and_says_when_it_starts(db: Db) {
    let app = announcing(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let at = dropcast::now_ms() + 3 * 3_600_000;
    app.patch(
        &format!("/api/v1/shows/{show_id}"),
        Some(&token),
        json!({"scheduled_at_ms": at}),
    )
    .await
    .expect(200);
    let path = format!("/api/v1/shows/{show_id}/cover");
    let png = {
        let img = image::RgbImage::from_fn(900, 600, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let put = async |token: Option<&str>, content_type: &str, body: Vec<u8>| {
        app.raw(reqwest::Method::PUT, &path, token, Some(content_type), body)
            .await
    };
    let cover = put(Some(&token), "image/png", png.clone())
        .await
        .expect(200)["cover_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cover.starts_with(&app.url("/images/img_")) && cover.ends_with("-640.jpg"),
        "{cover}"
    );
    let res = app.client.get(&cover).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    // Viewers get both in the first frame; the show's view carries them.
    let mut live = app.live(&show_id).await;
    let (snapshot, _) = live.until("snapshot").await;
    assert_eq!(snapshot["show"]["scheduled_at_ms"], at);
    assert_eq!(snapshot["show"]["cover_url"], cover.as_str());
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(
        (view["scheduled_at_ms"].as_i64(), view["cover_url"].as_str()),
        (Some(at), Some(cover.as_str()))
    );
    // Moving the show reaches the pages already open.
    let later = at + 1_800_000;
    app.patch(
        &format!("/api/v1/shows/{show_id}"),
        Some(&token),
        json!({"scheduled_at_ms": later, "title": "Drop night, later"}),
    )
    .await
    .expect(200);
    let (frame, _) = live.until("show").await;
    assert_eq!(
        (
            frame["title"].as_str(),
            frame["scheduled_at_ms"].as_i64(),
            frame["cover_url"].as_str()
        ),
        (Some("Drop night, later"), Some(later), Some(cover.as_str()))
    );
    // Not a picture, or not the creator's show: refused, nothing changes.
    let (_, other) = app.creator("Someone else").await;
    for (token, content_type, body, status, code) in [
        (
            Some(token.as_str()),
            "image/png",
            b"not a picture".to_vec(),
            415,
            "unsupported_image",
        ),
        (
            Some(token.as_str()),
            "image/png",
            Vec::new(),
            400,
            "empty_body",
        ),
        (
            Some(other.as_str()),
            "image/png",
            png.clone(),
            403,
            "forbidden",
        ),
        (None, "image/png", png.clone(), 401, "unauthorized"),
    ] {
        let answer = put(token, content_type, body).await;
        assert_eq!(answer.status.as_u16(), status, "{:?}", answer.body);
        if status != 401 && status != 403 {
            assert_eq!(answer.code(), code);
        }
    }
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(view["cover_url"], cover.as_str());
    let gone = app
        .call(reqwest::Method::DELETE, &path, Some(&token), None)
        .await
        .expect(200);
    assert_eq!(gone["cover_url"], Value::Null);
    // Taking the cover away, too (the refusals above sent nothing).
    let (frame, _) = live.until("show").await;
    assert_eq!(
        (
            frame["cover_url"].clone(),
            frame["scheduled_at_ms"].as_i64()
        ),
        (Value::Null, Some(later))
    );
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(view["cover_url"], Value::Null);
}

async fn bad_announcement_input_is_refused_and_changes_nothing(db: Db) {
    let pushes = PushService::start().await;
    // No SMTP server here, and plain-HTTP push endpoints are refused (as
    // in production).
    let app = spawn_app_with(db, with_stripe).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/shows/{show_id}/subscriptions");
    let browser = pushes.subscribe().await;
    let mut bad_keys = browser.clone();
    bad_keys["keys"]["p256dh"] = json!("AAAA");
    let mut bad_auth = browser.clone();
    bad_auth["keys"]["auth"] = json!("AAAA");
    for (body, status, code) in [
        (json!({"channel": "sms"}), 422, "invalid_channel"),
        (json!({"channel": "email"}), 422, "missing_field"),
        (
            json!({"channel": "email", "email": "not-an-address"}),
            422,
            "invalid_email",
        ),
        (
            json!({"channel": "email", "email": "ada@example.com"}),
            503,
            "email_unavailable",
        ),
        (
            json!({"channel": "push", "subscription": {"endpoint": "x"}}),
            422,
            "invalid_subscription",
        ),
        (
            json!({"channel": "push", "subscription": browser}),
            422,
            "invalid_subscription",
        ),
        (
            json!({"channel": "push", "subscription": bad_keys}),
            422,
            "invalid_subscription",
        ),
        (
            json!({"channel": "push", "subscription": bad_auth}),
            422,
            "invalid_subscription",
        ),
        (
            json!({"channel": "push", "subscription": browser, "extra": 1}),
            422,
            "unknown_field",
        ),
        (
            json!({"channel": "push", "subscription": browser, "source": "Bad Source!"}),
            422,
            "invalid_source",
        ),
    ] {
        let answer = app.post(&path, None, body.clone()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{body} → {:?}",
            answer.body
        );
    }
    let https = json!({"endpoint": "https://push.example/send/1", "keys": browser["keys"]});
    let answer = app
        .post(
            &path,
            None,
            json!({"channel": "push", "subscription": https, "product_id": "prod_nope"}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "product_not_found")
    );
    let answer = app
        .post(
            "/api/v1/shows/show_nope/subscriptions",
            None,
            json!({"channel": "push", "subscription": https}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "show_not_found")
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was subscribed");

    // Notices by hand: the show's creator only, one line of up to 140.
    let notices = format!("/api/v1/shows/{show_id}/notices");
    let (_, other) = app.creator("Someone else").await;
    assert_eq!(
        app.post(&notices, None, json!({"text": "hi"})).await.status,
        401
    );
    assert_eq!(
        app.post(&notices, Some(&other), json!({"text": "hi"}))
            .await
            .status,
        403
    );
    for text in [
        json!(""),
        json!("x".repeat(141)),
        json!("two\nlines"),
        json!(5),
    ] {
        let answer = app
            .post(&notices, Some(&token), json!({"text": text}))
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (422, "invalid_text"),
            "{text}"
        );
    }
    let answer = app
        .patch(
            &format!("/api/v1/shows/{show_id}"),
            Some(&token),
            json!({"restock_wake_factor": 0}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_restock_wake_factor")
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "no notice was made");

    // Links that are not ours.
    let client = no_redirects();
    for (method, path) in [
        (reqwest::Method::GET, "/n/n_nope".to_string()),
        (reqwest::Method::POST, "/u/u_nope".to_string()),
        (
            reqwest::Method::GET,
            "/subscriptions/sub_nope/confirm?k=00".to_string(),
        ),
        (reqwest::Method::GET, "/n/..%2F..".to_string()),
    ] {
        let res = client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_link", "{path}");
    }
}

crate::db_tests!(
    a_drop_notice_reaches_both_channels_two_minutes_before,
    double_opt_in_is_honoured,
    a_restock_wakes_the_first_batch_of_the_waitlist_only,
    going_live_tells_everyone_once,
    a_scheduled_show_has_a_cover_and_says_when_it_starts,
    a_forgotten_browser_is_dropped,
    bad_announcement_input_is_refused_and_changes_nothing,
);
