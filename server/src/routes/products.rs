//! Products of a show: create, and change title, price or stock.

use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::domain::ids::{looks_like_id, new_id};
use crate::domain::product::{
    Currency, FulfilmentField, ImageUrl, MaxPerBuyer, PriceCents, ShippingCents, Sku, Stock,
    StockDelta,
};
use crate::domain::text::Title;
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::live::Change;
use crate::routes::{owned_show, product_not_found};
use crate::state::AppState;
use crate::store::{self, NewProduct, ProductPatch, ProductRow};

fn publish(state: &AppState, product: &ProductRow) {
    state.hub.publish(
        &product.show_id,
        Change::Product {
            product: product.to_wire(),
            version: product.version,
        },
    );
}

/// `POST /api/v1/shows/{show}/products` (creator).
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let sku: Sku = body.required("sku")?;
    let title: Title = body.required("title")?;
    let price: PriceCents = body.required("price_cents")?;
    let currency: Currency = body.required("currency")?;
    let stock: Stock = body.required("stock")?;
    let max_per_buyer: Option<MaxPerBuyer> = body.optional("max_per_buyer")?;
    let image_url: Option<ImageUrl> = body.optional("image_url")?;
    let fulfilment: Option<FulfilmentField> = body.optional("fulfilment")?;
    let shipping: Option<ShippingCents> = body.optional("shipping_cents")?;
    body.finish()?;
    let fulfilment = fulfilment.map_or(wire::Fulfilment::Shipping, |f| f.0);
    if fulfilment == wire::Fulfilment::Digital && shipping.is_some_and(|s| s.get() > 0) {
        return Err(ApiError::invalid(
            "shipping_cents",
            "a digital product ships nothing: leave `shipping_cents` out",
        ));
    }
    let id = new_id("prd");
    let inserted = store::insert_product(
        &state.pool,
        NewProduct {
            id: &id,
            show_id: &show.id,
            sku: sku.as_str(),
            title: title.as_str(),
            price_cents: price.get(),
            currency: currency.as_str(),
            stock: stock.get(),
            max_per_buyer: max_per_buyer.map(MaxPerBuyer::get),
            image_url: image_url.as_ref().map(ImageUrl::as_str),
            fulfilment,
            shipping_cents: shipping.map_or(0, ShippingCents::get),
        },
    )
    .await;
    let product = match inserted {
        Ok(product) => product,
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(ApiError::conflict(
                "sku_taken",
                format!("this show already has a product with SKU {}", sku.as_str()),
            )
            .with_field("sku"));
        }
        Err(e) => return Err(e.into()),
    };
    publish(&state, &product);
    Ok(HttpResponse::Created().json(product.to_wire()))
}

/// A flag: `true` or `false`.
struct Flag(bool);

impl crate::input::FromJson for Flag {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        value
            .as_bool()
            .map(Flag)
            .ok_or_else(|| "must be true or false".into())
    }
}

/// `PATCH /api/v1/shows/{show}/products/{product}` (creator): any of
/// `title`, `price_cents`, `add_stock` (negative down to what is available),
/// `image_url`, `max_per_buyer` (null lifts the limit), `fulfilment`,
/// `shipping_cents`, and
/// `archived` (true takes it off the show: not listed, not for sale; its
/// orders stay).
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (show_id, product_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&product_id) {
        return Err(product_not_found());
    }
    let title: Option<Title> = body.optional("title")?;
    let price: Option<PriceCents> = body.optional("price_cents")?;
    let add_stock: Option<StockDelta> = body.optional("add_stock")?;
    let image_url: Option<ImageUrl> = body.optional("image_url")?;
    let max_per_buyer: Option<Option<MaxPerBuyer>> = body.patch("max_per_buyer")?;
    let fulfilment: Option<FulfilmentField> = body.optional("fulfilment")?;
    let shipping: Option<ShippingCents> = body.optional("shipping_cents")?;
    let archived: Option<Flag> = body.optional("archived")?;
    body.finish()?;
    let nothing = title.is_none()
        && price.is_none()
        && add_stock.is_none()
        && image_url.is_none()
        && max_per_buyer.is_none()
        && fulfilment.is_none()
        && shipping.is_none()
        && archived.is_none();
    if nothing {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_update",
            "send at least one of `title`, `price_cents`, `add_stock`, `image_url`, \
             `max_per_buyer`, `fulfilment`, `shipping_cents`, `archived`",
        ));
    }
    let add_stock = add_stock.map_or(0, StockDelta::get);
    let patch = ProductPatch {
        title: title.as_ref().map(Title::as_str),
        price_cents: price.map(PriceCents::get),
        add_stock,
        image_url: image_url.as_ref().map(ImageUrl::as_str),
        max_per_buyer: max_per_buyer.map(|m| m.map(MaxPerBuyer::get)),
        fulfilment: fulfilment.map(|f| f.0),
        shipping_cents: shipping.map(ShippingCents::get),
        archived: archived.map(|a| a.0),
    };
    match store::update_product(&state.pool, &show.id, &product_id, patch, Stock::MAX).await? {
        Some(product) => {
            publish(&state, &product);
            Ok(HttpResponse::Ok().json(product.to_wire()))
        }
        None => {
            // Nothing changed: say why.
            let current = store::get_product(&state.pool, &show.id, &product_id)
                .await?
                .ok_or_else(product_not_found)?;
            if current.available + add_stock < 0 {
                Err(ApiError::conflict(
                    "insufficient_stock",
                    format!(
                        "only {} units are available to remove; held and sold units stay",
                        current.available
                    ),
                )
                .with_field("add_stock"))
            } else {
                Err(ApiError::invalid(
                    "add_stock",
                    format!("a product holds at most {} units in all", Stock::MAX),
                ))
            }
        }
    }
}

pub(crate) fn image_refused(e: crate::images::ImageError) -> ApiError {
    use crate::images::ImageError;
    use actix_web::http::StatusCode;
    let (status, code) = match &e {
        ImageError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        ImageError::NotAnImage => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image"),
        ImageError::TooManyPixels => (StatusCode::UNPROCESSABLE_ENTITY, "image_too_many_pixels"),
        ImageError::Unreadable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unreadable_image"),
    };
    ApiError::new(status, code, e.to_string())
}

/// Reads the request body, refusing it as soon as it is known to be
/// larger than an image may be (by its `Content-Length` before a byte is
/// read, else while reading).
pub(crate) async fn image_body(
    req: &actix_web::HttpRequest,
    mut payload: web::Payload,
) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let max = crate::images::MAX_UPLOAD_BYTES;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(image_refused(crate::images::ImageError::TooLarge));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(64 * 1024).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "body_unreadable",
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(image_refused(crate::images::ImageError::TooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the image's bytes as the body (PNG, JPEG or WebP)",
        ));
    }
    Ok(body)
}

/// `PUT /api/v1/shows/{show}/products/{product}/image` (creator): the body
/// is the image itself (PNG, JPEG or WebP, at most 8 MB and 8000 px a
/// side). It is resized to the sizes the pages use and becomes the
/// product's `image_url` (640 px) and `thumb_url` (160 px), served from
/// `/images/…` by every node with a year's cache. 413 `image_too_large`,
/// 415 `unsupported_image`, 422 `image_too_many_pixels` or
/// `unreadable_image`; a refused upload changes nothing.
pub async fn put_image(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (show_id, product_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&product_id) {
        return Err(product_not_found());
    }
    store::get_product(&state.pool, &show.id, &product_id)
        .await?
        .ok_or_else(product_not_found)?;
    let upload = crate::routes::images::Upload::read(&req, payload).await?;
    let base = state.settings.public_base();
    let product = store::images::set_product_image(
        &state.pool,
        &show.id,
        &product_id,
        &upload.stored(),
        &upload.url(&base, crate::images::LARGE),
        &upload.url(&base, crate::images::SMALL),
    )
    .await?
    .ok_or_else(product_not_found)?;
    upload.keep_copies(&state.settings.data_dir).await;
    publish(&state, &product);
    Ok(HttpResponse::Ok().json(product.to_wire()))
}

/// `DELETE /api/v1/shows/{show}/products/{product}/image` (creator): the
/// product has no picture any more.
pub async fn delete_image(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (show_id, product_id) = path.into_inner();
    let show = owned_show(&state, &caller, &show_id).await?;
    if !looks_like_id(&product_id) {
        return Err(product_not_found());
    }
    let product = store::images::clear_product_image(&state.pool, &show.id, &product_id)
        .await?
        .ok_or_else(product_not_found)?;
    publish(&state, &product);
    Ok(HttpResponse::Ok().json(product.to_wire()))
}
