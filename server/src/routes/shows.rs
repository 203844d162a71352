//! Shows: create, list, read, and the pinned product.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::configuration::Settings;
use crate::domain::ids::{IdRef, new_id, new_secret};
use crate::domain::text::Title;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::live::Change;
use crate::node::IngestBase;
use crate::routes::{owned_show, product_not_found, show_not_found};
use crate::state::AppState;
use crate::store::{self, ShowRow};

/// Where an encoder sends the stream.
#[derive(Serialize)]
pub struct Ingest {
    /// `rtmp://HOST:PORT/live/STREAM_KEY`: OBS's default service type.
    pub rtmp: String,
    /// `srt://HOST:PORT?streamid=STREAM_KEY`.
    pub srt: String,
}

/// The show's pages.
#[derive(Serialize)]
pub struct ShowUrls {
    pub watch: String,
    pub overlay: String,
    /// Open with `?token=` and the creator's (or an editor's) token.
    pub studio: String,
    /// The script that mounts the widget on any page.
    pub embed: String,
    /// The `<script>` tag to paste into a page.
    pub embed_html: String,
}

/// What only the show's creator sees: the stream key and where to use it.
#[derive(Serialize)]
pub struct ShowPrivate {
    pub stream_key: String,
    /// `null` only in a cluster with no ingest node running (see
    /// [`IngestChoice`]): the creator has nowhere to stream to yet.
    pub ingest: Option<Ingest>,
    pub urls: ShowUrls,
    /// Buyers a restock wakes per new unit (on the show's own view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restock_wake_factor: Option<i64>,
}

/// Which node a creator streams a show to: this one when it ingests, else
/// the cluster's ingest node for the show ([`crate::node::pick_ingest`]).
pub struct IngestChoice {
    own: Option<IngestBase>,
    nodes: Vec<(String, IngestBase, bool)>,
}

impl IngestChoice {
    pub async fn load(state: &AppState) -> Result<IngestChoice, ApiError> {
        if state.node.roles.ingest {
            return Ok(IngestChoice {
                own: Some(state.settings.own_ingest()),
                nodes: Vec::new(),
            });
        }
        let nodes =
            store::nodes::ingest_nodes(&state.pool, crate::node::NodeIdentity::stale_before_ms())
                .await?;
        Ok(IngestChoice { own: None, nodes })
    }

    /// `None` when no node of the cluster ingests.
    pub fn for_show(&self, show: &ShowRow) -> Option<&IngestBase> {
        match &self.own {
            Some(own) => Some(own),
            None => crate::node::pick_ingest(&show.id, show.ingest_node.as_deref(), &self.nodes),
        }
    }
}

impl ShowPrivate {
    /// What the owner sees, with this node's (or the cluster's) ingest.
    pub async fn load(state: &AppState, show: &ShowRow) -> Result<ShowPrivate, ApiError> {
        let choice = IngestChoice::load(state).await?;
        let mut private = ShowPrivate::of(show, &state.settings, choice.for_show(show));
        private.restock_wake_factor =
            Some(store::announcements::wake_factor(&state.pool, &show.id).await?);
        Ok(private)
    }

    pub fn of(show: &ShowRow, settings: &Settings, ingest: Option<&IngestBase>) -> ShowPrivate {
        let base = settings.public_base();
        let key = &show.stream_key;
        let id = &show.id;
        ShowPrivate {
            stream_key: key.clone(),
            ingest: ingest.map(|ingest| {
                let (rtmp, srt) = ingest.urls(key);
                Ingest { rtmp, srt }
            }),
            urls: ShowUrls {
                watch: format!("{base}/watch/{id}"),
                overlay: format!("{base}/overlay/{id}"),
                studio: format!("{base}/studio/{id}"),
                embed: format!("{base}/embed.js"),
                embed_html: format!(r#"<script src="{base}/embed.js" data-show="{id}"></script>"#),
            },
            restock_wake_factor: None,
        }
    }
}

/// `POST /api/v1/shows` answer, and an entry of the creator's list.
#[derive(Serialize)]
pub struct ShowCreated {
    pub id: String,
    pub title: String,
    pub live: bool,
    #[serde(flatten)]
    pub private: ShowPrivate,
}

impl ShowCreated {
    fn of(show: &ShowRow, private: ShowPrivate) -> Self {
        ShowCreated {
            id: show.id.clone(),
            title: show.title.clone(),
            live: show.live != 0,
            private,
        }
    }
}

/// `POST /api/v1/shows` (creator) `{"title"}`.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    let title: Title = body.required("title")?;
    body.finish()?;
    let show = store::insert_show(
        &state.pool,
        &new_id("shw"),
        creator_id,
        title.as_str(),
        &new_secret("live"),
    )
    .await?;
    tracing::info!(show = %show.id, creator = %creator_id, "show created");
    let private = ShowPrivate::load(&state, &show).await?;
    Ok(HttpResponse::Created().json(ShowCreated::of(&show, private)))
}

/// `POST /api/v1/shows/{show}/stream-key` (creator): a new stream key; the
/// old one is refused from the next connection on. Returns what `GET` of
/// the show gives its owner (the key and the ingest URLs).
pub async fn rotate_stream_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut show = owned_show(&state, &caller, &path).await?;
    body.finish()?;
    show.stream_key = new_secret("live");
    store::rotate_stream_key(&state.pool, &show.id, &show.stream_key).await?;
    tracing::info!(show = %show.id, "stream key rotated");
    Ok(HttpResponse::Ok().json(ShowPrivate::load(&state, &show).await?))
}

/// `GET /api/v1/shows/{show}/stream` (creator): the incoming stream's
/// keyframe interval with advice, and why the server cut the last session.
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let report = crate::stream_health::report(&state.pool, &show).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(report))
}

/// `GET /api/v1/shows` (creator): the caller's own shows.
pub async fn list_mine(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let creator_id = caller.require_creator()?;
    let shows = store::shows_of_creator(&state.pool, creator_id).await?;
    let ingest = IngestChoice::load(&state).await?;
    let shows: Vec<ShowCreated> = shows
        .iter()
        .map(|s| ShowCreated::of(s, ShowPrivate::of(s, &state.settings, ingest.for_show(s))))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "shows": shows })))
}

#[derive(Serialize)]
struct ShowWithPrivate {
    #[serde(flatten)]
    view: wire::ShowView,
    #[serde(flatten)]
    private: Option<ShowPrivate>,
}

/// `GET /api/v1/shows/{show}` (public). The show's creator also gets the
/// stream key, ingest URLs and page URLs.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show_id = path.into_inner();
    if !crate::domain::ids::looks_like_id(&show_id) {
        return Err(show_not_found());
    }
    let show_state = store::load_show_state(&state.pool, &show_id)
        .await?
        .ok_or_else(show_not_found)?;
    let private = if caller.is_owner_of(&show_state.show) {
        Some(ShowPrivate::load(&state, &show_state.show).await?)
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(ShowWithPrivate {
            view: show_state.to_view(),
            private,
        }))
}

/// When a show is planned: epoch ms within the next few years.
struct ScheduledAt(i64);

impl crate::input::FromJson for ScheduledAt {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        crate::input::integer_in(value, 1_600_000_000_000..=4_102_444_800_000).map(ScheduledAt)
    }
}

/// `PATCH /api/v1/shows/{show}` (creator): any of `title`,
/// `shipping_flat_cents` (charged once per parcel instead of the products'
/// own; null goes back to those) and `scheduled_at_ms` (null: unscheduled).
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let title: Option<Title> = body.optional("title")?;
    let flat: Option<Option<crate::domain::product::ShippingCents>> =
        body.patch("shipping_flat_cents")?;
    let scheduled: Option<Option<ScheduledAt>> = body.patch("scheduled_at_ms")?;
    let factor: Option<crate::domain::announce::WakeFactor> =
        body.optional("restock_wake_factor")?;
    body.finish()?;
    if title.is_none() && flat.is_none() && scheduled.is_none() && factor.is_none() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_update",
            "send at least one of `title`, `shipping_flat_cents`, `scheduled_at_ms`, \
             `restock_wake_factor`",
        ));
    }
    let patch = store::ShowPatch {
        title: title.as_ref().map(Title::as_str),
        shipping_flat_cents: flat.map(|f| f.map(|c| c.get())),
        scheduled_at_ms: scheduled.map(|s| s.map(|s| s.0)),
        restock_wake_factor: factor.map(|f| f.get()),
    };
    let show = store::update_show(&state.pool, &show.id, patch)
        .await?
        .ok_or_else(show_not_found)?;
    publish_show(&state, &show);
    let factor = store::announcements::wake_factor(&state.pool, &show.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": show.id,
        "title": show.title,
        "shipping_flat_cents": show.shipping_flat_cents,
        "scheduled_at_ms": show.scheduled_at_ms,
        "went_live_at_ms": show.went_live_at_ms,
        "cover_url": show.cover_url,
        "restock_wake_factor": factor,
    })))
}

/// `DELETE /api/v1/shows/{show}` (creator): a show that never went live and
/// sold nothing is deleted with its products and countdowns; otherwise 409
/// (`show_was_live`, `show_has_orders`) and nothing changes.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    match store::delete_show(&state.pool, &show.id).await? {
        store::ShowDeleted::Deleted => {
            tracing::info!(show = %show.id, "show deleted");
            state.playback.replays.forget(&show.id);
            Ok(HttpResponse::NoContent().finish())
        }
        store::ShowDeleted::WasLive => Err(ApiError::conflict(
            "show_was_live",
            "this show went live: its replay and clips are kept",
        )),
        store::ShowDeleted::HasOrders => Err(ApiError::conflict(
            "show_has_orders",
            "buyers ordered from this show: it is kept with their orders",
        )),
    }
}

/// `PUT /api/v1/shows/{show}/pin` (creator) `{"product_id": ID | null}`.
pub async fn pin(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let product_id: Option<IdRef> = body.nullable("product_id")?;
    body.finish()?;
    if let Some(IdRef(id)) = &product_id
        && store::get_product(&state.pool, &show.id, id)
            .await?
            .is_none()
    {
        return Err(product_not_found());
    }
    let product_id = product_id.map(|IdRef(id)| id);
    let version = store::set_pin(&state.pool, &show.id, product_id.as_deref())
        .await?
        .ok_or_else(show_not_found)?;
    state.hub.publish(
        &show.id,
        Change::Pin {
            product_id: product_id.clone(),
            version,
        },
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({ "pinned_product_id": product_id })))
}

/// `PUT /api/v1/shows/{show}/cover` (creator): the body is the picture
/// itself (PNG, JPEG or WebP, at most 8 MB and 8000 px a side, as product
/// pictures), resized to 640 and 160 wide; the 640 becomes the show's
/// `cover_url`, shown by its pages before it starts. Refusals as for
/// product pictures; a refused upload changes nothing. → 200 `{"cover_url"}`.
pub async fn put_cover(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let upload = crate::routes::images::Upload::read(&req, payload).await?;
    let url = upload.url(&state.settings.public_base(), crate::images::LARGE);
    if !store::images::set_show_cover(&state.pool, &show.id, &upload.stored(), &url).await? {
        return Err(show_not_found());
    }
    upload.keep_copies(&state.settings.data_dir).await;
    publish_show_as_stored(&state, &show.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "cover_url": url })))
}

/// `DELETE /api/v1/shows/{show}/cover` (creator): no cover any more.
pub async fn delete_cover(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    store::images::clear_show_cover(&state.pool, &show.id).await?;
    publish_show_as_stored(&state, &show.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "cover_url": null })))
}

/// Tells the show's live rooms (on every node) its title, schedule and cover.
fn publish_show(state: &AppState, show: &store::ShowRow) {
    state.hub.publish(
        &show.id,
        Change::Show {
            title: show.title.clone(),
            scheduled_at_ms: show.scheduled_at_ms,
            cover_url: show.cover_url.clone(),
            version: show.version,
        },
    );
}

/// The same, read back after a change that does not return the row: the
/// row read is at least as new as the change, and rooms keep the newest.
async fn publish_show_as_stored(state: &AppState, show_id: &str) -> Result<(), ApiError> {
    if let Some(show) = store::get_show(&state.pool, show_id).await? {
        publish_show(state, &show);
    }
    Ok(())
}
