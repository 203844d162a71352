//! `GET /api/v1/shows/{show}/live`: upgrades to the live websocket.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::{Caller, ClientIp, resolve};
use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::limits::Limit;
use crate::live::JoinError;
use crate::live::socket::{self, SocketContext};
use crate::routes::show_not_found;
use crate::state::AppState;

#[derive(serde::Deserialize)]
pub struct LiveQuery {
    /// Browsers cannot set headers on a websocket: the creator's or an
    /// editor's token comes here, and makes the socket get clip frames too.
    token: Option<String>,
}

pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    ClientIp::of(&req, &state.settings.trusted_proxies)
        .limit(&state, Limit::LivePerIp)
        .await?;
    let show_id = path.into_inner();
    if !looks_like_id(&show_id) {
        return Err(show_not_found());
    }
    let staff = match &query.token {
        None => false,
        Some(token) => {
            let principal = resolve(&state, token).await?.ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "the token is not one this server issued")
            })?;
            let show = crate::routes::find_show(&state, &show_id).await?;
            Caller(Some(principal)).staff_of(&show).is_ok()
        }
    };
    // Join before upgrading, so an unknown show is a plain 404.
    let subscription = state.hub.join(&show_id, staff).await.map_err(|e| match e {
        JoinError::NotFound => show_not_found(),
        JoinError::Unavailable => ApiError::unavailable(
            "live_unavailable",
            "the show's live state could not be loaded",
        ),
    })?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("websocket upgrade failed: {e}"))
    })?;
    let ctx = SocketContext {
        settings: state.hub.settings().clone(),
        metrics: state.metrics.clone(),
        shutdown: state.shutdown.clone(),
    };
    actix_web::rt::spawn(socket::run(session, stream, subscription, ctx));
    Ok(response)
}
