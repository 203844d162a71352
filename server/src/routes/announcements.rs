//! Announcement routes: subscribing ("remind me", "notify me when back"),
//! the VAPID key browsers subscribe with, the creator's notices, and the
//! links in every message — confirm, track, one-click unsubscribe. Each
//! translates to one [`crate::announcements::Announcer`] call.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};

use super::{owned_show, product_not_found, show_not_found};
use crate::announcements::{Ask, NOTICE_COOKIE, SubscribeError};
use crate::auth::{Caller, ClientIp};
use crate::domain::announce::{
    Channel, ConsentSource, EmailAddress, NoticeText, PushSubscriptionJson,
};
use crate::domain::ids::{IdRef, looks_like_id};
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::limits::Limit;
use crate::state::AppState;

impl From<SubscribeError> for ApiError {
    fn from(e: SubscribeError) -> ApiError {
        match e {
            SubscribeError::NoShow => show_not_found(),
            SubscribeError::NoProduct => product_not_found().with_field("product_id"),
            SubscribeError::Email(m) => ApiError::invalid("email", m),
            SubscribeError::Push(m) => ApiError::invalid("subscription", m.to_string()),
            SubscribeError::NoMail => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "email_unavailable",
                e.to_string(),
            ),
            SubscribeError::Db(e) => e.into(),
        }
    }
}

/// `POST /api/v1/shows/{show}/subscriptions` (anyone)
/// `{"channel":"email","email"}` or `{"channel":"push","subscription":{…}}`,
/// with `"product_id"` to wait for its restock and `"source"` (where the
/// buyer agreed) → 201 `{"id","status"}`, `pending` until an email is
/// confirmed. Asking again answers the same subscription.
pub async fn subscribe(
    state: web::Data<AppState>,
    ip: ClientIp,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    ip.limit(&state, Limit::SubscriptionsPerIp).await?;
    let channel: Channel = body.required("channel")?;
    // Only the chosen channel's field is read: the other one is unknown.
    let (email, push): (Option<EmailAddress>, Option<PushSubscriptionJson>) = match channel {
        Channel::Email => (Some(body.required("email")?), None),
        Channel::Push => (None, Some(body.required("subscription")?)),
    };
    let product: Option<IdRef> = body.optional("product_id")?;
    let source: Option<ConsentSource> = body.optional("source")?;
    body.finish()?;
    // The show is checked by the announcer (one read), after its id's shape.
    if !looks_like_id(&path) {
        return Err(show_not_found());
    }
    let ask = match (&email, &push) {
        (Some(e), _) => Ask::Email(e.as_str()),
        (None, Some(p)) => Ask::Push {
            endpoint: &p.endpoint,
            p256dh: &p.p256dh,
            auth: &p.auth,
        },
        (None, None) => unreachable!("one channel was read"),
    };
    let product_id = product.as_ref().map(|IdRef(id)| id.as_str());
    if product_id.is_some_and(|p| !looks_like_id(p)) {
        return Err(product_not_found().with_field("product_id"));
    }
    let source = source.as_ref().map_or("api", ConsentSource::as_str);
    let done = state
        .announcer
        .subscribe(&path, product_id, ask, source)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("access-control-allow-origin", "*"))
        .json(serde_json::json!({"id": done.id, "status": done.status})))
}

/// `GET /api/v1/push/vapid-public-key` → `{"key"}`: the
/// `applicationServerKey` browsers subscribe with (base64url).
pub async fn vapid_public_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=3600"))
        .json(serde_json::json!({"key": state.announcer.vapid_public_key()}))
}

/// `POST /api/v1/shows/{show}/notices` (creator) `{"text"}`: a notice sent
/// now to everyone who asked to be reminded → 201 `{"id","kind","text"}`.
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let text: NoticeText = body.required("text")?;
    body.finish()?;
    let id = state.announcer.send_by_hand(&show.id, &text).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": id, "kind": "manual", "text": text.as_str(),
    })))
}

/// `GET /api/v1/shows/{show}/notices` (creator) → `{"notices":[…]}`: each
/// notice with its figures (as in the show's stats).
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let notices = crate::store::announcements::notice_stats(&state.pool, &show.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "notices": notices })))
}

fn bad_link() -> ApiError {
    ApiError::not_found(
        "invalid_link",
        "this link is not one of ours, or has expired",
    )
}

#[derive(serde::Deserialize)]
pub struct ConfirmQuery {
    k: String,
}

/// `GET /subscriptions/{id}/confirm?k=SIG`: the double opt-in link; on to
/// the show's page, which says the address is confirmed.
pub async fn confirm(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, ApiError> {
    if !looks_like_id(&path) {
        return Err(bad_link());
    }
    let show = state
        .announcer
        .confirm(&path, &query.k)
        .await?
        .ok_or_else(bad_link)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/watch/{show}?subscribed=email")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `POST /u/{token}`: one-click unsubscribe (RFC 8058: mail clients post
/// `List-Unsubscribe=One-Click`; the service worker posts nothing). Again
/// is the same. 200 `{"unsubscribed":true,"show_id"}`.
pub async fn unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !looks_like_id(&path) {
        return Err(bad_link());
    }
    let show = state
        .announcer
        .unsubscribe(&path)
        .await?
        .ok_or_else(bad_link)?;
    Ok(HttpResponse::Ok()
        .insert_header(("access-control-allow-origin", "*"))
        .json(serde_json::json!({"unsubscribed": true, "show_id": show})))
}

/// `GET /u/{token}`: the link in a letter's footer opens a one-button
/// form that posts to the same URL (a GET never unsubscribes: mail
/// scanners follow links).
pub async fn unsubscribe_form(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !looks_like_id(&path) {
        return Err(bad_link());
    }
    let token = mail::escape_html(&path);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ))
        .body(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Unsubscribe</title>\
             <body style=\"font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem\">\
             <h1 style=\"font-size:1.4rem\">Stop these messages?</h1>\
             <form method=\"post\" action=\"/u/{token}\">\
             <button style=\"font-size:1.1rem;padding:.7rem 1.4rem\">Unsubscribe</button></form>\
             </body></html>"
        )))
}

/// `GET /n/{delivery}`: a message's tracking link. Counts the first click
/// (time to first click), leaves a ten-minute cookie for the show's order
/// route (an order then counts for the notice), and opens the show.
pub async fn track(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !looks_like_id(&path) {
        return Err(bad_link());
    }
    let clicked = state.announcer.clicked(&path).await?.ok_or_else(bad_link)?;
    let cookie = format!(
        "{NOTICE_COOKIE}={}; Path=/api/v1/shows/{}/orders; Max-Age={}; SameSite=Lax; HttpOnly{}",
        path.as_str(),
        clicked.show_id,
        crate::store::announcements::ORDER_WINDOW_MS / 1000,
        if state.settings.public_url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        }
    );
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, format!("/watch/{}", clicked.show_id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::SET_COOKIE, cookie))
        .finish())
}
