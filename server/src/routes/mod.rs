//! HTTP routes, one module a resource. [`configure`] mounts them all.
//!
//! Each handler reads the caller ([`crate::auth::Caller`]) and the body
//! ([`crate::input::JsonObject`]), checks role, existence and ownership in that
//! order (401, 404, 403), validates every field before touching the database,
//! and publishes what it committed to the live hub.

pub mod announcements;
pub mod clips;
pub mod countdowns;
pub mod creators;
pub mod editors;
pub mod health;
pub mod hls;
pub mod images;
pub mod live;
pub mod orders;
pub mod pages;
pub mod products;
pub mod replay;
pub mod shipments;
pub mod shows;
pub mod stats;
pub mod stripe_webhook;
pub mod viewers;

use actix_web::web;

use crate::auth::Caller;
use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, ShowRow};

/// Mounts every route of the API. One `resource` a path, so a known path
/// called with an unknown method answers 405, not 404.
/// The routes of a node without the api role (`DROPCAST_ROLES=ingest`,
/// say): health, metrics, and the media other nodes fetch from their origin.
pub fn configure_media(cfg: &mut web::ServiceConfig) {
    use web::{get, resource};
    cfg.service(resource("/healthz").route(get().to(health::healthz)))
        .service(resource("/metrics").route(get().to(health::metrics)))
        .service(resource("/hls/{show}/index.m3u8").route(get().to(hls::playlist)))
        .service(resource("/hls/{show}/{file}").route(get().to(hls::segment)))
        .service(resource("/api/v1/clips/{clip}/file").route(get().to(clips::file)));
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put, resource};
    cfg.service(resource("/healthz").route(get().to(health::healthz)))
        .service(resource("/metrics").route(get().to(health::metrics)))
        .service(resource("/hls/{show}/index.m3u8").route(get().to(hls::playlist)))
        .service(resource("/hls/{show}/{file}").route(get().to(hls::segment)))
        .service(resource("/assets/{file}").route(get().to(pages::asset)))
        .service(resource("/images/{file}").route(get().to(images::get)))
        .service(resource("/overlay/{show}").route(get().to(pages::overlay)))
        .service(resource("/watch/{show}").route(get().to(pages::watch)))
        .service(resource("/studio/{show}").route(get().to(pages::studio)))
        .service(resource("/embed.js").route(get().to(pages::embed)))
        .service(resource("/sw.js").route(get().to(pages::service_worker)))
        .service(resource("/frame/{show}").route(get().to(pages::frame)))
        .service(resource("/order/{order}").route(get().to(pages::order)))
        .service(resource("/clip/{clip}").route(get().to(pages::clip)))
        .service(
            resource("/subscriptions/{subscription}/confirm")
                .route(get().to(announcements::confirm)),
        )
        .service(
            resource("/u/{token}")
                .route(get().to(announcements::unsubscribe_form))
                .route(post().to(announcements::unsubscribe)),
        )
        .service(resource("/n/{delivery}").route(get().to(announcements::track)))
        .service(
            web::scope("/api/v1")
                .service(resource("/creators").route(post().to(creators::create)))
                .service(
                    resource("/creators/me")
                        .route(get().to(creators::me))
                        .route(patch().to(creators::update_me)),
                )
                .service(resource("/creators/me/token").route(post().to(creators::rotate_token)))
                .service(
                    resource("/creators/me/embed-origins")
                        .route(put().to(creators::set_embed_origins)),
                )
                .service(
                    resource("/shows")
                        .route(post().to(shows::create))
                        .route(get().to(shows::list_mine)),
                )
                .service(
                    resource("/shows/{show}")
                        .route(get().to(shows::get))
                        .route(patch().to(shows::update))
                        .route(delete().to(shows::delete)),
                )
                .service(resource("/shows/{show}/shipments").route(get().to(shipments::list)))
                .service(resource("/shows/{show}/shipments.csv").route(get().to(shipments::csv)))
                .service(
                    resource("/shows/{show}/shipments/tracking")
                        .route(post().to(shipments::import_tracking)),
                )
                .service(resource("/shipments/{shipment}/ship").route(post().to(shipments::ship)))
                .service(resource("/shows/{show}/pin").route(put().to(shows::pin)))
                .service(resource("/shows/{show}/products").route(post().to(products::create)))
                .service(
                    resource("/shows/{show}/products/{product}")
                        .route(patch().to(products::update)),
                )
                .service(
                    resource("/shows/{show}/products/{product}/image")
                        .route(put().to(products::put_image))
                        .route(delete().to(products::delete_image)),
                )
                .service(resource("/shows/{show}/countdowns").route(post().to(countdowns::create)))
                .service(
                    resource("/shows/{show}/countdowns/{countdown}")
                        .route(patch().to(countdowns::update))
                        .route(delete().to(countdowns::delete)),
                )
                .service(
                    resource("/shows/{show}/editors")
                        .route(post().to(editors::create))
                        .route(get().to(editors::list)),
                )
                .service(
                    resource("/shows/{show}/editors/{editor}").route(delete().to(editors::revoke)),
                )
                .service(
                    resource("/shows/{show}/stream-key").route(post().to(shows::rotate_stream_key)),
                )
                .service(resource("/shows/{show}/live").route(get().to(live::socket)))
                .service(resource("/viewers").route(post().to(viewers::create)))
                .service(resource("/checkout/config").route(get().to(viewers::checkout_config)))
                .service(
                    resource("/viewers/me")
                        .route(get().to(viewers::me))
                        .route(delete().to(viewers::forget)),
                )
                .service(
                    resource("/viewers/me/payment-method")
                        .route(put().to(viewers::save_payment_method)),
                )
                .service(resource("/viewers/me/shipping").route(put().to(viewers::save_shipping)))
                .service(
                    resource("/shows/{show}/orders")
                        .route(post().to(orders::create))
                        .route(get().to(orders::list)),
                )
                .service(resource("/shows/{show}/stats").route(get().to(stats::get)))
                .service(resource("/shows/{show}/stream").route(get().to(shows::stream)))
                .service(resource("/shows/{show}/replay").route(get().to(replay::get)))
                .service(
                    resource("/shows/{show}/thumbnails/{file}").route(get().to(replay::thumbnail)),
                )
                .service(
                    resource("/shows/{show}/clips")
                        .route(post().to(clips::create))
                        .route(get().to(clips::list)),
                )
                .service(resource("/clips/{clip}").route(get().to(clips::get)))
                .service(resource("/clips/{clip}/file").route(get().to(clips::file)))
                .service(resource("/clips/{clip}/public").route(get().to(clips::public)))
                .service(resource("/clips/{clip}/poster.jpg").route(get().to(clips::poster)))
                .service(resource("/clips/{clip}/events").route(post().to(clips::event)))
                .service(
                    resource("/shows/{show}/cover")
                        .route(put().to(shows::put_cover))
                        .route(delete().to(shows::delete_cover)),
                )
                .service(
                    resource("/shows/{show}/subscriptions")
                        .route(post().to(announcements::subscribe)),
                )
                .service(
                    resource("/shows/{show}/notices")
                        .route(post().to(announcements::send))
                        .route(get().to(announcements::list)),
                )
                .service(
                    resource("/push/vapid-public-key")
                        .route(get().to(announcements::vapid_public_key)),
                )
                .service(resource("/orders/{order}").route(get().to(orders::get)))
                .service(resource("/orders/{order}/refund").route(post().to(orders::refund)))
                .service(resource("/orders/{order}/cancel").route(post().to(orders::cancel)))
                .service(resource("/orders/{order}/receipt").route(get().to(orders::receipt)))
                .service(resource("/stripe/webhook").route(post().to(stripe_webhook::receive))),
        );
}

pub(crate) fn show_not_found() -> ApiError {
    ApiError::not_found("show_not_found", "no show has this id")
}

pub(crate) fn product_not_found() -> ApiError {
    ApiError::not_found("product_not_found", "this show has no product with this id")
}

/// The show named in the path if the caller is its creator: 401 without a
/// creator token, 404 for an unknown show, 403 for another creator's show.
pub(crate) async fn owned_show(
    state: &AppState,
    caller: &Caller,
    show_id: &str,
) -> Result<ShowRow, ApiError> {
    caller.require_creator()?;
    let show = find_show(state, show_id).await?;
    caller.owner_of(&show)?;
    Ok(show)
}

/// The show named in the path, or 404.
pub(crate) async fn find_show(state: &AppState, show_id: &str) -> Result<ShowRow, ApiError> {
    if !looks_like_id(show_id) {
        return Err(show_not_found());
    }
    store::get_show(&state.pool, show_id)
        .await?
        .ok_or_else(show_not_found)
}
