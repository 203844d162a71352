//! Countdowns (creator): "drop opens in 2:00", "sale ends in 0:60".
//! `POST …/countdowns` starts one; `PATCH …/countdowns/{id}` replaces its
//! end (from now), label or hold; `DELETE …/countdowns/{id}` cancels it. A
//! product whose sale ended is reopened by cancelling or extending its
//! `sale_ends`. The order route enforces them
//! ([`crate::domain::countdown::purchase_window`]).

use actix_web::{HttpResponse, web};
use wire::{Countdown, CountdownKind};

use crate::auth::Caller;
use crate::domain::countdown::{CountdownSeconds, HoldSeconds};
use crate::domain::ids::{IdRef, looks_like_id, new_id};
use crate::domain::text::Label;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::live::Change;
use crate::routes::{owned_show, product_not_found};
use crate::state::AppState;
use crate::store;

fn countdown_not_found() -> ApiError {
    ApiError::not_found(
        "countdown_not_found",
        "this show has no countdown with this id",
    )
}

/// `POST /api/v1/shows/{show}/countdowns`
/// `{"kind","seconds","product_id"?,"label"?,"hold_seconds"?}`.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let kind: CountdownKind = body.required("kind")?;
    let seconds: CountdownSeconds = body.required("seconds")?;
    let product_id: Option<IdRef> = body.optional("product_id")?;
    let label: Option<Label> = body.optional("label")?;
    let hold: Option<HoldSeconds> = body.optional("hold_seconds")?;
    body.finish()?;
    if let Some(IdRef(id)) = &product_id
        && store::get_product(&state.pool, &show.id, id)
            .await?
            .is_none()
    {
        return Err(product_not_found().with_field("product_id"));
    }
    let now = crate::now_ms();
    let countdown = Countdown {
        id: new_id("cd"),
        kind,
        product_id: product_id.map(|IdRef(id)| id),
        label: label.map(|l| l.as_str().to_string()),
        ends_at_ms: now + seconds.get() * 1000,
        set_at_ms: Some(now),
        hold_seconds: hold.map(HoldSeconds::get),
    };
    store::insert_countdown(&state.pool, &show.id, &countdown).await?;
    state.hub.publish(
        &show.id,
        Change::Countdown {
            countdown: countdown.clone(),
        },
    );
    Ok(HttpResponse::Created().json(countdown))
}

/// `PATCH /api/v1/shows/{show}/countdowns/{countdown}` any of
/// `{"seconds","label","hold_seconds"}`: `seconds` sets a new end, from now.
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (show_id, countdown_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&countdown_id) {
        return Err(countdown_not_found());
    }
    let seconds: Option<CountdownSeconds> = body.optional("seconds")?;
    let label: Option<Label> = body.optional("label")?;
    let hold: Option<HoldSeconds> = body.optional("hold_seconds")?;
    body.finish()?;
    if seconds.is_none() && label.is_none() && hold.is_none() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_update",
            "send at least one of `seconds`, `label`, `hold_seconds`",
        ));
    }
    let now = crate::now_ms();
    let patch = store::CountdownPatch {
        ends_at_ms: seconds.map(|s| now + s.get() * 1000),
        set_at_ms: seconds.map(|_| now),
        label: label.as_ref().map(Label::as_str),
        hold_seconds: hold.map(HoldSeconds::get),
    };
    let countdown = store::update_countdown(&state.pool, &show.id, &countdown_id, patch)
        .await?
        .ok_or_else(countdown_not_found)?;
    state.hub.publish(
        &show.id,
        Change::Countdown {
            countdown: countdown.clone(),
        },
    );
    Ok(HttpResponse::Ok().json(countdown))
}

/// `DELETE /api/v1/shows/{show}/countdowns/{countdown}`: cancels it.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, countdown_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&countdown_id)
        || !store::delete_countdown(&state.pool, &show.id, &countdown_id).await?
    {
        return Err(countdown_not_found());
    }
    state.hub.publish(
        &show.id,
        Change::CountdownRemoved {
            countdown_id: countdown_id.clone(),
        },
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": countdown_id, "cancelled": true})))
}
