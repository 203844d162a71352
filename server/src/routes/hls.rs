//! HLS of the live stream: `/hls/{show}/index.m3u8` and its segments.
//!
//! The playlist changes every segment and is never cached; a segment never
//! changes once listed and is cached for a day. Both are open to any origin,
//! since the widget plays them from pages on other sites.

use actix_web::{HttpResponse, web};

use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::replay::replay_dir;
use crate::routes::show_not_found;
use crate::state::AppState;
use crate::store;

/// Segments listed in the live playlist (about a minute).
const LIVE_WINDOW: i64 = 30;

pub async fn playlist(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show_id = path.into_inner();
    if !looks_like_id(&show_id) {
        return Err(show_not_found());
    }
    let show = store::get_show(&state.pool, &show_id)
        .await?
        .ok_or_else(show_not_found)?;
    let segments = store::media::latest_segments(&state.pool, &show.id, LIVE_WINDOW).await?;
    let entries: Vec<media::hls::Entry> = segments
        .into_iter()
        .map(|s| media::hls::Entry {
            seq: s.seq as u64,
            duration_ms: s.end_ms - s.start_ms,
            starts_session: s.starts_session != 0,
            uri: s.file,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .insert_header(("cache-control", "no-cache, no-store"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(media::hls::playlist(&entries, show.live == 0)))
}

pub async fn segment(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, file) = path.into_inner();
    let not_found = || ApiError::not_found("segment_not_found", "no such segment in the buffer");
    if !looks_like_id(&show_id) {
        return Err(not_found());
    }
    let seq = media::segmenter::parse_segment_file(&file).ok_or_else(not_found)?;
    let row = store::media::segment(&state.pool, &show_id, seq as i64)
        .await?
        .ok_or_else(not_found)?;
    let bytes = tokio::fs::read(replay_dir(&state.settings.data_dir, &show_id).join(&row.file))
        .await
        .map_err(|_| not_found())?;
    Ok(HttpResponse::Ok()
        .content_type("video/mp2t")
        .insert_header(("cache-control", "public, max-age=86400, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(bytes))
}
