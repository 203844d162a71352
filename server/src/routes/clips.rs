//! Clips: export the last N seconds or a span of the replay buffer, list
//! them, and download the files; what a clip's page shows (public, finished
//! clips only), its poster, and its views and taps.
//!
//! How a span becomes a clip: the start snaps back to the keyframe that
//! begins its segment (a cut without re-encoding must start on one; the
//! clip says where it was asked to start), and the end is cut at the asked
//! frame. `last_seconds` is measured back from the end of the buffer and
//! clamped to its start; an explicit `[start_ms, end_ms]` must lie inside
//! the buffer.

use actix_files::NamedFile;
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::clips::{MAX_CLIP_MS, clip_file, pick, view, views_with_events};
use crate::domain::ids::{IdRef, looks_like_id, new_id};
use crate::error::ApiError;
use crate::input::{FromJson, JsonObject, integer_in};
use crate::routes::{find_show, product_not_found};
use crate::state::AppState;
use crate::store;

struct Seconds(i64);

impl FromJson for Seconds {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        integer_in(value, 1..=86_400).map(Seconds)
    }
}

struct EpochMs(i64);

impl FromJson for EpochMs {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        integer_in(value, 0..=i64::MAX / 2).map(EpochMs)
    }
}

struct ClipFormat(&'static str);

impl FromJson for ClipFormat {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        match value.as_str() {
            Some("original") => Ok(ClipFormat("original")),
            Some("vertical") => Ok(ClipFormat("vertical")),
            _ => Err("must be \"original\" or \"vertical\"".into()),
        }
    }
}

fn too_long() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "clip_too_long",
        format!("a clip is at most {} s", MAX_CLIP_MS / 1000),
    )
}

fn out_of_range(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "out_of_range",
        why.to_string(),
    )
}

/// `POST /api/v1/shows/{show}/clips` (creator or editor).
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    caller.staff_of(&show)?;
    let last: Option<Seconds> = body.optional("last_seconds")?;
    let start: Option<EpochMs> = body.optional("start_ms")?;
    let end: Option<EpochMs> = body.optional("end_ms")?;
    let format = body
        .optional::<ClipFormat>("format")?
        .unwrap_or(ClipFormat("original"));
    let product: Option<IdRef> = body.optional("product_id")?;
    body.finish()?;
    if let Some(IdRef(id)) = &product
        && store::get_product(&state.pool, &show.id, id)
            .await?
            .is_none()
    {
        return Err(product_not_found().with_field("product_id"));
    }
    let (buffer_start, buffer_end) = store::media::buffer_span(&state.pool, &show.id)
        .await?
        .ok_or_else(|| out_of_range("the replay buffer is empty"))?;
    let (from, to) = match (last, start, end) {
        (Some(Seconds(s)), None, None) => {
            if s * 1000 > MAX_CLIP_MS {
                return Err(too_long().with_field("last_seconds"));
            }
            ((buffer_end - s * 1000).max(buffer_start), buffer_end)
        }
        (None, Some(EpochMs(a)), Some(EpochMs(b))) => {
            if b <= a {
                return Err(ApiError::invalid(
                    "span",
                    "`end_ms` must be after `start_ms`",
                ));
            }
            if b - a > MAX_CLIP_MS {
                return Err(too_long());
            }
            if a < buffer_start || b > buffer_end {
                return Err(out_of_range(&format!(
                    "the buffer holds {buffer_start}..{buffer_end} (epoch ms)"
                )));
            }
            (a, b)
        }
        _ => {
            return Err(ApiError::invalid(
                "span",
                "give `last_seconds`, or both `start_ms` and `end_ms`",
            ));
        }
    };
    let nearby =
        store::media::segments_between(&state.pool, &show.id, from - 10_000, to + 10_000).await?;
    let chosen =
        pick(&nearby, from, to).ok_or_else(|| out_of_range("no segment covers this span"))?;
    let clip = store::clips::insert_clip(
        &state.pool,
        store::clips::NewClip {
            id: &new_id("clp"),
            show_id: &show.id,
            format: format.0,
            first_seq: chosen.first_seq,
            last_seq: chosen.last_seq,
            start_ms: chosen.start_ms,
            end_ms: chosen.end_ms,
            asked_start_ms: chosen.asked_start_ms,
            product_id: product.as_ref().map(|IdRef(id)| id.as_str()),
        },
    )
    .await?;
    state.clips.wake();
    Ok(HttpResponse::Accepted().json(view(&clip, &state.settings)))
}

fn clip_not_found() -> ApiError {
    ApiError::not_found("clip_not_found", "no clip has this id")
}

async fn find_clip(state: &AppState, clip_id: &str) -> Result<store::clips::ClipRow, ApiError> {
    if !looks_like_id(clip_id) {
        return Err(clip_not_found());
    }
    store::clips::get_clip(&state.pool, clip_id)
        .await?
        .ok_or_else(clip_not_found)
}

/// `GET /api/v1/clips/{clip}` (creator or editor of its show).
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let clip = find_clip(&state, &path).await?;
    let show = find_show(&state, &clip.show_id).await?;
    caller.staff_of(&show)?;
    let mut views = views_with_events(
        &state.pool,
        &state.settings,
        &show.id,
        std::slice::from_ref(&clip),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(views.pop()))
}

/// `GET /api/v1/shows/{show}/clips` (creator or editor).
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    caller.staff_of(&show)?;
    let clips = store::clips::clips_of_show(&state.pool, &show.id).await?;
    let clips = views_with_events(&state.pool, &state.settings, &show.id, &clips).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(serde_json::json!({ "clips": clips })))
}

/// `GET /api/v1/clips/{clip}/file`: the MP4, with Range support. The clip id
/// (64 random bits) is the capability, like a share link: a `<video>` element
/// cannot send an Authorization header.
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let clip = find_clip(&state, &path).await?;
    if clip.status != "done" {
        return Err(ApiError::conflict(
            "clip_not_ready",
            format!("the clip is {}", clip.status),
        ));
    }
    let local = clip_file(&state.settings, &clip.id);
    let named = match NamedFile::open_async(&local).await {
        Ok(named) => named,
        // Made on another node: fetched from there once, then kept here.
        Err(_) if !crate::origin::asked_by_a_node(&req) => {
            let kept = state
                .origins
                .clip_file(&state.pool, &clip.id, local)
                .await?
                .ok_or_else(clip_not_found)?;
            NamedFile::open_async(kept)
                .await
                .map_err(|_| clip_not_found())?
        }
        Err(_) => return Err(clip_not_found()),
    };
    let file = named
        .set_content_type(
            "video/mp4"
                .parse()
                .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
        )
        .set_content_disposition(ContentDisposition {
            disposition: DispositionType::Inline,
            parameters: vec![DispositionParam::Filename(format!("{}.mp4", clip.id))],
        });
    let mut res = file.into_response(&req);
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("public, max-age=86400, immutable"),
    );
    Ok(res)
}

/// A finished clip as its public page shows it.
#[derive(serde::Serialize)]
pub struct PublicClip {
    pub id: String,
    pub show_id: String,
    pub show_title: String,
    pub format: String,
    pub duration_ms: Option<i64>,
    pub video_url: String,
    /// Its first frame; `None` if none could be made (the page then shows
    /// the product's image).
    pub poster_url: Option<String>,
    /// The product it sells, with its stock now; `None` when it names none
    /// or the product was archived.
    pub product: Option<wire::Product>,
}

/// A finished clip, or 404 (a clip still being made has no page yet).
pub(crate) async fn public_clip(state: &AppState, clip_id: &str) -> Result<PublicClip, ApiError> {
    let clip = find_clip(state, clip_id).await?;
    if clip.status != "done" {
        return Err(clip_not_found());
    }
    let show = find_show(state, &clip.show_id).await?;
    let product = match &clip.product_id {
        Some(id) => store::get_product(&state.pool, &show.id, id)
            .await?
            .filter(|p| p.archived_at_ms.is_none())
            .map(|p| p.to_wire()),
        None => None,
    };
    let base = state.settings.public_base();
    let poster_url = store::clips::has_poster(&state.pool, &clip.id)
        .await?
        .then(|| format!("{base}/api/v1/clips/{}/poster.jpg", clip.id));
    Ok(PublicClip {
        video_url: format!("{base}/api/v1/clips/{}/file", clip.id),
        poster_url,
        product,
        show_title: show.title,
        show_id: clip.show_id,
        format: clip.format,
        duration_ms: clip.duration_ms,
        id: clip.id,
    })
}

/// `GET /api/v1/clips/{clip}/public`: what the clip's page shows. Public:
/// the clip id is its share link.
pub async fn public(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let clip = public_clip(&state, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("access-control-allow-origin", "*"))
        .json(clip))
}

/// `GET /api/v1/clips/{clip}/poster.jpg`: the clip's first frame, from the
/// database (any node), cached for a day (a clip never changes).
pub async fn poster(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("poster_not_found", "this clip has no poster");
    if !looks_like_id(&path) {
        return Err(not_found());
    }
    let jpeg = store::clips::poster(&state.pool, &path)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("cache-control", "public, max-age=86400, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(jpeg))
}

struct Event(store::clips::ClipEvent);

impl FromJson for Event {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        match value.as_str() {
            Some("view") => Ok(Event(store::clips::ClipEvent::View)),
            Some("click") => Ok(Event(store::clips::ClipEvent::Click)),
            _ => Err("must be \"view\" or \"click\"".into()),
        }
    }
}

/// `POST /api/v1/clips/{clip}/events` `{"kind":"view"|"click"}` (anyone,
/// limited per address) → 204: a view of the clip's page, or a tap on its
/// product. Counted in the show's stats.
pub async fn event(
    state: web::Data<AppState>,
    ip: crate::auth::ClientIp,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    ip.limit(&state, crate::limits::Limit::ClipEventsPerIp)
        .await?;
    let Event(kind) = body.required("kind")?;
    body.finish()?;
    let clip = public_clip(&state, &path).await?;
    store::clips::record_event(&state.pool, &new_id("cev"), &clip.id, kind).await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("access-control-allow-origin", "*"))
        .finish())
}
