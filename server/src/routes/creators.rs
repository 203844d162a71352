//! `POST /api/v1/creators` (admin): a new creator and its API token.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::{Caller, new_token};
use crate::domain::{ids::new_id, text::Name};
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::state::AppState;
use crate::store::{self, TokenRole};

#[derive(Serialize)]
pub struct CreatorCreated {
    pub id: String,
    pub name: String,
    /// Shown once: only its hash is stored.
    pub token: String,
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let name: Name = body.required("name")?;
    body.finish()?;
    let created = create_creator(&state.pool, &name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `POST /api/v1/creators/me/token` (creator) → 201 `{"token"}`: a new
/// token for the calling creator; every token it had stops working.
pub async fn rotate_token(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    body.finish()?;
    let (token, hash) = new_token(TokenRole::Creator);
    store::rotate_creator_token(&state.pool, creator_id, &hash).await?;
    tracing::info!(creator = %creator_id, "creator token rotated");
    Ok(HttpResponse::Created().json(serde_json::json!({ "token": token })))
}

/// Creates a creator; shared by the route and `dropcast admin create-creator`.
pub async fn create_creator(
    pool: &sqlx::AnyPool,
    name: &Name,
) -> Result<CreatorCreated, sqlx::Error> {
    let id = new_id("cr");
    let (token, hash) = new_token(TokenRole::Creator);
    store::create_creator(pool, &id, name.as_str(), &hash).await?;
    tracing::info!(creator = %id, "creator created");
    Ok(CreatorCreated {
        id,
        name: name.as_str().to_string(),
        token,
    })
}
