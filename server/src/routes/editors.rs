//! Editors of a show (creator): `POST …/editors` issues a token for an
//! editor who may cut clips of this show and nothing else; `GET …/editors`
//! lists them (by id, never the token); `DELETE …/editors/{id}` revokes one.

use actix_web::{HttpResponse, web};

use crate::auth::{Caller, new_token};
use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::routes::owned_show;
use crate::state::AppState;
use crate::store::{self, TokenRole};

/// `POST /api/v1/shows/{show}/editors` → 201 `{"id","token"}`.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    body.finish()?;
    let (token, hash) = new_token(TokenRole::Editor);
    let id = store::insert_token(&state.pool, &hash, TokenRole::Editor, &show.id, None).await?;
    tracing::info!(show = %show.id, editor = %id, "editor token issued");
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id, "token": token })))
}

/// `GET /api/v1/shows/{show}/editors` → `{"editors":[{"id","created_at_ms"}]}`.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let editors = store::editor_tokens(&state.pool, &show.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "editors": editors })))
}

/// `DELETE /api/v1/shows/{show}/editors/{editor}`: the token stops working at once.
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, editor_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&editor_id)
        || !store::revoke_editor(&state.pool, &show.id, &editor_id).await?
    {
        return Err(ApiError::not_found(
            "editor_not_found",
            "this show has no editor with this id",
        ));
    }
    tracing::info!(show = %show.id, editor = %editor_id, "editor token revoked");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": editor_id, "revoked": true })))
}
