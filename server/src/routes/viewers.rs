//! Anonymous buyer sessions: `POST /api/v1/viewers`, `GET /api/v1/viewers/me`.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::{Caller, new_token};
use crate::domain::ids::new_id;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::startup::AppState;
use crate::store::{self, TokenRole};

#[derive(Serialize)]
struct Card {
    brand: String,
    last4: String,
}

#[derive(Serialize)]
struct Me {
    viewer_id: String,
    email: Option<String>,
    /// The saved card, once the buyer saved one.
    card: Option<Card>,
}

/// `POST /api/v1/viewers` → 201 `{"viewer_id","token"}`.
pub async fn create(
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    body.finish()?;
    let id = new_id("vw");
    let (token, hash) = new_token(TokenRole::Viewer);
    store::create_viewer(&state.pool, &id, &hash).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "viewer_id": id, "token": token })))
}

/// `GET /api/v1/viewers/me` (viewer).
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    let viewer = store::get_viewer(&state.pool, viewer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this viewer no longer exists"))?;
    let card = match (viewer.card_brand, viewer.card_last4) {
        (Some(brand), Some(last4)) => Some(Card { brand, last4 }),
        _ => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Me {
            viewer_id: viewer.id,
            email: viewer.email,
            card,
        }))
}
