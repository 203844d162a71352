//! `POST /api/v1/creators` (admin): a new creator and its API token.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::{Caller, new_token};
use crate::domain::ids::new_id;
use crate::domain::text::{EmbedOrigins, Name};
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
    let email: Option<crate::routes::viewers::Email> = body.optional("email")?;
    body.finish()?;
    let created = create_creator(&state.pool, &name).await?;
    if let Some(email) = &email {
        store::set_creator_email(&state.pool, &created.id, Some(&email.0)).await?;
    }
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

/// The creator's view of themselves.
fn me_view(c: &store::CreatorRow) -> serde_json::Value {
    let origins: Option<Vec<String>> = c
        .embed_origins
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    serde_json::json!({"id": c.id, "name": c.name, "embed_origins": origins, "email": c.email})
}

/// `PATCH /api/v1/creators/me` (creator) `{"email": ADDRESS | null}`: the
/// `Reply-To` of the mail the creator's buyers get.
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Caller,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    let email: Option<crate::routes::viewers::Email> = body.nullable("email")?;
    body.finish()?;
    store::set_creator_email(
        &state.pool,
        creator_id,
        email.as_ref().map(|e| e.0.as_str()),
    )
    .await?;
    let creator = store::get_creator(&state.pool, creator_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this creator no longer exists"))?;
    Ok(HttpResponse::Ok().json(me_view(&creator)))
}

/// `GET /api/v1/creators/me` (creator) → `{"id","name","embed_origins"}`.
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    let creator = store::get_creator(&state.pool, creator_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this creator no longer exists"))?;
    Ok(HttpResponse::Ok().json(me_view(&creator)))
}

/// `PUT /api/v1/creators/me/embed-origins` (creator) `{"origins": [ORIGIN…] | null}`:
/// the sites that may embed the creator's widget and watch pages
/// (`frame-ancestors`); `null` lets any site.
pub async fn set_embed_origins(
    state: web::Data<AppState>,
    caller: Caller,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    let origins: Option<EmbedOrigins> = body.nullable("origins")?;
    body.finish()?;
    let json = origins.map(|o| serde_json::to_string(&o.0).unwrap_or_else(|_| "[]".into()));
    store::set_embed_origins(&state.pool, creator_id, json.as_deref()).await?;
    let creator = store::get_creator(&state.pool, creator_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this creator no longer exists"))?;
    Ok(HttpResponse::Ok().json(me_view(&creator)))
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
