//! The replay buffer as the clip desk sees it:
//! - `GET /api/v1/shows/{show}/replay` (creator or editor): the span the
//!   buffer holds, a thumbnail per segment, and the show's commerce events
//!   within the span.
//! - `GET /api/v1/shows/{show}/thumbnails/{segN.jpg}`: one thumbnail. Public,
//!   like the HLS segments it shows a frame of (an `<img>` sends no token).

use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::replay::replay_dir;
use crate::routes::find_show;
use crate::state::AppState;
use crate::store;

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    caller.staff_of(&show)?;
    let span = store::media::buffer_span(&state.pool, &show.id).await?;
    let (thumbnails, events) = match span {
        None => (Vec::new(), Vec::new()),
        Some((start, end)) => (
            store::media::thumbnails(&state.pool, &show.id).await?,
            store::timeline::events_between(&state.pool, &show.id, start, end).await?,
        ),
    };
    let base = state.settings.public_base();
    let replay = wire::Replay {
        live: show.live != 0,
        start_ms: span.map(|s| s.0),
        end_ms: span.map(|s| s.1),
        thumbnails: thumbnails
            .into_iter()
            .map(|(seq, at_ms)| wire::Thumbnail {
                at_ms,
                url: format!(
                    "{base}/api/v1/shows/{}/thumbnails/{}",
                    show.id,
                    media::thumbnail::thumbnail_file(seq as u64)
                ),
            })
            .collect(),
        events,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(replay))
}

pub async fn thumbnail(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, file) = path.into_inner();
    let not_found =
        || ApiError::not_found("thumbnail_not_found", "no such thumbnail in the buffer");
    if !looks_like_id(&show_id) {
        return Err(not_found());
    }
    // The name is rebuilt from the number: nothing from the URL reaches the path.
    let seq = media::thumbnail::parse_thumbnail_file(&file).ok_or_else(not_found)?;
    let name = media::thumbnail::thumbnail_file(seq);
    let bytes = tokio::fs::read(replay_dir(&state.settings.data_dir, &show_id).join(name))
        .await
        .map_err(|_| not_found())?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("cache-control", "public, max-age=86400, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(bytes))
}
