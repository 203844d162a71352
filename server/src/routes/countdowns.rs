//! `POST /api/v1/shows/{show}/countdowns` (creator): "drop opens in 2:00",
//! "sale ends in 0:60". The order route enforces them
//! ([`crate::domain::countdown::purchase_window`]).

use actix_web::{HttpResponse, web};
use wire::{Countdown, CountdownKind};

use crate::auth::Caller;
use crate::domain::countdown::CountdownSeconds;
use crate::domain::ids::{IdRef, new_id};
use crate::domain::text::Label;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::live::Change;
use crate::routes::{owned_show, product_not_found};
use crate::state::AppState;
use crate::store;

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
    body.finish()?;
    if let Some(IdRef(id)) = &product_id
        && store::get_product(&state.pool, &show.id, id)
            .await?
            .is_none()
    {
        return Err(product_not_found().with_field("product_id"));
    }
    let countdown = Countdown {
        id: new_id("cd"),
        kind,
        product_id: product_id.map(|IdRef(id)| id),
        label: label.map(|l| l.as_str().to_string()),
        ends_at_ms: crate::now_ms() + seconds.get() * 1000,
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
