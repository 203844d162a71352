//! HLS of the live stream: `/hls/{show}/index.m3u8` and what it lists.
//!
//! While a show is live on this node its playlist is LL-HLS from the live
//! edge in memory ([`crate::edge`]): fMP4 parts, blocking reloads with
//! `_HLS_msn`/`_HLS_part`, a preload hint, answered without touching the
//! database; its parts, segments and init sections come from memory. A
//! blocking reload that arrives after the stream ended is still answered
//! from the edge (with its `EXT-X-ENDLIST`), so a player that was watching
//! plays out to the end. Otherwise — the show is offline — the playlist is
//! the replay buffer's (MPEG-TS, from the index, the same before and after
//! a restart), from memory at most a second old
//! ([`crate::replay_playlists`]), its segments read from disk with Range and
//! ETag (actix-files, off the async workers). actix-web has no `sendfile`:
//! `NamedFile` reads the file in chunks on the blocking pool and writes
//! them to the socket; a segment is a few hundred KB read once per viewer,
//! and a CDN or a reverse proxy in front is where zero-copy serving belongs.
//!
//! On a node that does not have the show's media — it is published to, or
//! was recorded on, another node — every request is answered from that
//! node ([`crate::origin`]): playlists passed through (blocking reloads
//! too), live objects fetched once per edge and kept for their window,
//! replay segments fetched once and kept on disk.
//!
//! Playlists are never cached. Live objects are short-lived (they leave the
//! window within a minute and their numbers start again in a new process),
//! so they are cached briefly; replay segments never change and are cached
//! for a day. All of it is open to any origin: the widget plays it from
//! pages on other sites.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use media::live::{Refused, Track};

use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::origin::asked_by_a_node;
use crate::replay::replay_dir;
use crate::routes::show_not_found;
use crate::state::AppState;
use crate::store;

/// A blocking reload's query (RFC 8216bis §6.2.5.2).
#[derive(Debug, serde::Deserialize)]
pub struct Reload {
    #[serde(rename = "_HLS_msn")]
    msn: Option<String>,
    #[serde(rename = "_HLS_part")]
    part: Option<String>,
}

/// What a blocking reload asks for, once parsed.
fn parse_reload(q: &Reload) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let number = |v: &str, name: &str| {
        v.parse::<u64>().map_err(|_| {
            ApiError::bad_request("hls_bad_request", format!("{name} must be a whole number"))
                .with_field(name)
        })
    };
    match (&q.msn, &q.part) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ApiError::bad_request(
            "hls_bad_request",
            "_HLS_part needs _HLS_msn",
        )
        .with_field("_HLS_part")),
        (Some(msn), part) => Ok(Some((
            number(msn, "_HLS_msn")?,
            part.as_deref()
                .map(|p| number(p, "_HLS_part"))
                .transpose()?,
        ))),
    }
}

fn playlist_response(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .insert_header(("cache-control", "no-cache, no-store"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(body)
}

/// The origin's answer to the same request, passed on.
async fn from_origin(
    state: &AppState,
    origin: &str,
    req: &HttpRequest,
    keep: bool,
) -> Result<HttpResponse, ApiError> {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_string(), |p| p.as_str().to_string());
    let fetched = state
        .origins
        .fetch(origin, &path, keep)
        .await
        .map_err(|e| {
            tracing::warn!(%origin, error = %e, "the show's origin node did not answer");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "origin_unreachable",
                "the node streaming this show did not answer",
            )
        })?;
    let status = StatusCode::from_u16(fetched.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    if let Some(ct) = &fetched.content_type {
        response.content_type(ct.as_str());
    }
    let cache = if keep && status == StatusCode::OK {
        "public, max-age=30"
    } else {
        "no-cache, no-store"
    };
    Ok(response
        .insert_header(("cache-control", cache))
        .insert_header(("access-control-allow-origin", "*"))
        .body(fetched.body))
}

pub async fn playlist(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Reload>,
) -> Result<HttpResponse, ApiError> {
    let show_id = path.into_inner();
    if !looks_like_id(&show_id) {
        return Err(show_not_found());
    }
    let reload = parse_reload(&query)?;
    if let Some(track) = state.playback.edges.get(&show_id)
        && (reload.is_some() || track.is_live())
    {
        return live_playlist(&track, reload).await.map(playlist_response);
    }
    if !asked_by_a_node(&req)
        && let Some(origin) = state.origins.live_origin(&state.pool, &show_id).await?
    {
        return from_origin(&state, &origin, &req, false).await;
    }
    let replay = state
        .playback
        .replays
        .get(&state.pool, &show_id)
        .await?
        .ok_or_else(show_not_found)?;
    Ok(playlist_response(replay.body.clone()))
}

async fn live_playlist(
    track: &Track,
    reload: Option<(u64, Option<u64>)>,
) -> Result<Bytes, ApiError> {
    let Some((msn, part)) = reload else {
        return Ok(track.playlist());
    };
    track
        .blocking_playlist(msn, part)
        .await
        .map_err(|r| match r {
            Refused::BadRequest => ApiError::bad_request(
                "hls_too_far_ahead",
                "that segment or part is too far past the live edge",
            ),
            Refused::Timeout | Refused::Gone => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "hls_no_update",
                "the stream did not reach that segment or part in time",
            ),
        })
}

/// What a live object's file name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LiveFile {
    Init(u64),
    Segment(u64),
    Part(u64),
}

fn parse_live_file(file: &str) -> Option<LiveFile> {
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(n) = file
        .strip_prefix("init")
        .and_then(|r| r.strip_suffix(".mp4"))
    {
        return num(n).map(LiveFile::Init);
    }
    if let Some(n) = file
        .strip_prefix("part")
        .and_then(|r| r.strip_suffix(".m4s"))
    {
        return num(n).map(LiveFile::Part);
    }
    if let Some(n) = file
        .strip_prefix("seg")
        .and_then(|r| r.strip_suffix(".m4s"))
    {
        return num(n).map(LiveFile::Segment);
    }
    None
}

fn live_object(body: Bytes, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=30"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(body)
}

pub async fn segment(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, file) = path.into_inner();
    let not_found = || ApiError::not_found("segment_not_found", "no such segment in the buffer");
    if !looks_like_id(&show_id) {
        return Err(not_found());
    }
    if let Some(live) = parse_live_file(&file) {
        let Some(track) = state.playback.edges.get(&show_id) else {
            if !asked_by_a_node(&req)
                && let Some(origin) = state.origins.live_origin(&state.pool, &show_id).await?
            {
                // Init sections, segments and parts never change once made.
                return from_origin(&state, &origin, &req, true).await;
            }
            return Err(not_found());
        };
        return match live {
            LiveFile::Init(n) => track
                .init_section(n)
                .map(|b| live_object(b, "video/mp4"))
                .ok_or_else(not_found),
            LiveFile::Segment(msn) => track
                .segment(msn)
                .map(|b| live_object(b, "video/iso.segment"))
                .ok_or_else(not_found),
            LiveFile::Part(n) => match track.part(n).await {
                Ok(b) => Ok(live_object(b, "video/iso.segment")),
                Err(Refused::Timeout) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "hls_no_update",
                    "that part was not made in time",
                )),
                Err(_) => Err(not_found()),
            },
        };
    }
    let seq = media::segmenter::parse_segment_file(&file).ok_or_else(not_found)?;
    // A listed segment's file is known from the playlist in memory; one
    // older than the playlist's window is looked up.
    let listed = state
        .playback
        .replays
        .get(&state.pool, &show_id)
        .await?
        .ok_or_else(not_found)?
        .file(seq)
        .map(str::to_string);
    let file = match listed {
        Some(file) => file,
        None => {
            store::media::segment(&state.pool, &show_id, seq as i64)
                .await?
                .ok_or_else(not_found)?
                .file
        }
    };
    let local = replay_dir(&state.settings.data_dir, &show_id).join(&file);
    let named = match actix_files::NamedFile::open_async(&local).await {
        Ok(named) => named,
        // Recorded on another node: fetched from there once, then kept here.
        Err(_) if !asked_by_a_node(&req) => {
            let kept = state
                .origins
                .replay_file(&state.pool, &show_id, seq, &file)
                .await?
                .ok_or_else(not_found)?;
            actix_files::NamedFile::open_async(&kept)
                .await
                .map_err(|_| not_found())?
        }
        Err(_) => return Err(not_found()),
    };
    let file = named
        .set_content_type("video/mp2t".parse().expect("a valid mime type"))
        .use_last_modified(false);
    let mut response = file.into_response(&req);
    let headers = response.headers_mut();
    headers.insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("public, max-age=86400, immutable"),
    );
    headers.insert(
        actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        actix_web::http::header::HeaderValue::from_static("*"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_file_names() {
        assert_eq!(parse_live_file("init3.mp4"), Some(LiveFile::Init(3)));
        assert_eq!(parse_live_file("part120.m4s"), Some(LiveFile::Part(120)));
        assert_eq!(parse_live_file("seg42.m4s"), Some(LiveFile::Segment(42)));
        assert_eq!(parse_live_file("seg0000000042.ts"), None);
        assert_eq!(parse_live_file("part.m4s"), None);
        assert_eq!(parse_live_file("part+1.m4s"), None);
    }

    #[test]
    fn part_without_msn_is_a_bad_request() {
        let q = Reload {
            msn: None,
            part: Some("1".into()),
        };
        assert_eq!(parse_reload(&q).unwrap_err().code, "hls_bad_request");
        let q = Reload {
            msn: Some("x".into()),
            part: None,
        };
        assert!(parse_reload(&q).is_err());
        let q = Reload {
            msn: Some("7".into()),
            part: Some("2".into()),
        };
        assert_eq!(parse_reload(&q).unwrap(), Some((7, Some(2))));
    }
}
