//! HTTP routes, one module a resource. [`configure`] mounts them all.
//!
//! Each handler reads the caller ([`crate::auth::Caller`]) and the body
//! ([`crate::input::JsonObject`]), checks role, existence and ownership in that
//! order (401, 404, 403), validates every field before touching the database,
//! and publishes what it committed to the live hub.

pub mod countdowns;
pub mod creators;
pub mod editors;
pub mod health;
pub mod live;
pub mod products;
pub mod shows;
pub mod viewers;

use actix_web::web;

use crate::domain::ids::looks_like_id;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{self, ShowRow};

/// Mounts every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::scope("/api/v1")
                .route("/creators", web::post().to(creators::create))
                .route("/shows", web::post().to(shows::create))
                .route("/shows", web::get().to(shows::list_mine))
                .route("/shows/{show}", web::get().to(shows::get))
                .route("/shows/{show}/pin", web::put().to(shows::pin))
                .route("/shows/{show}/products", web::post().to(products::create))
                .route(
                    "/shows/{show}/products/{product}",
                    web::patch().to(products::update),
                )
                .route(
                    "/shows/{show}/countdowns",
                    web::post().to(countdowns::create),
                )
                .route("/shows/{show}/editors", web::post().to(editors::create))
                .route("/shows/{show}/live", web::get().to(live::socket))
                .route("/viewers", web::post().to(viewers::create))
                .route("/viewers/me", web::get().to(viewers::me)),
        );
}

pub(crate) fn show_not_found() -> ApiError {
    ApiError::not_found("show_not_found", "no show has this id")
}

pub(crate) fn product_not_found() -> ApiError {
    ApiError::not_found("product_not_found", "this show has no product with this id")
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
