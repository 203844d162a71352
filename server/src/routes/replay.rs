//! `GET /api/v1/shows/{show}/replay` (creator or editor): the span of the buffer.

use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::find_show;
use crate::startup::AppState;
use crate::store;

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    caller.staff_of(&show)?;
    let span = store::media::buffer_span(&state.pool, &show.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(serde_json::json!({
            "live": show.live != 0,
            "start_ms": span.map(|s| s.0),
            "end_ms": span.map(|s| s.1),
        })))
}
