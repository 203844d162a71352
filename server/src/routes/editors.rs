//! `POST /api/v1/shows/{show}/editors` (creator): a token for an editor who
//! may cut clips of this show and nothing else.

use actix_web::{HttpResponse, web};

use crate::auth::{Caller, new_token};
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::routes::owned_show;
use crate::state::AppState;
use crate::store::{self, TokenRole};

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    body.finish()?;
    let (token, hash) = new_token(TokenRole::Editor);
    store::insert_token(&state.pool, &hash, TokenRole::Editor, &show.id).await?;
    tracing::info!(show = %show.id, "editor token issued");
    Ok(HttpResponse::Created().json(serde_json::json!({ "token": token })))
}
