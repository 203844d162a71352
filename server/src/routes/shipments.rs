//! Parcels of a show, for the creator after the show: the list grouped by
//! buyer, the packing list as CSV, "mark shipped" one by one or in bulk
//! from a CSV of tracking numbers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::domain::ids::looks_like_id;
use crate::domain::parcel::{Carrier, TrackingNumber};
use crate::error::ApiError;
use crate::input::JsonObject;
use crate::routes::{find_show, orders::OrderView, owned_show};
use crate::state::AppState;
use crate::store::shipments::{self, ShipmentRow, ShipmentStatus, Shipped};
use crate::store::{self, ProductRow, orders::OrderRow};

/// One line of a parcel: what to put in the box.
#[derive(Serialize)]
struct Item {
    order_id: String,
    product_id: String,
    sku: String,
    title: String,
    quantity: i64,
}

#[derive(Serialize)]
struct ShipmentView {
    id: String,
    email: String,
    shipping: Option<wire::Address>,
    orders: Vec<OrderView>,
    items: Vec<Item>,
    /// The shipping its orders paid (once per parcel).
    shipping_cents: i64,
    currency: String,
    status: ShipmentStatus,
    carrier: Option<String>,
    tracking: Option<String>,
    shipped_at_ms: Option<i64>,
    created_at_ms: i64,
}

fn items(orders: &[OrderRow], products: &HashMap<String, ProductRow>) -> Vec<Item> {
    orders
        .iter()
        .map(|o| {
            let p = products.get(&o.product_id);
            Item {
                order_id: o.id.clone(),
                product_id: o.product_id.clone(),
                sku: p.map(|p| p.sku.clone()).unwrap_or_default(),
                title: p.map(|p| p.title.clone()).unwrap_or_default(),
                quantity: o.quantity,
            }
        })
        .collect()
}

fn view(
    s: ShipmentRow,
    orders: Vec<OrderRow>,
    products: &HashMap<String, ProductRow>,
) -> ShipmentView {
    ShipmentView {
        shipping: s.shipping(),
        items: items(&orders, products),
        shipping_cents: orders.iter().map(|o| o.shipping_cents).sum(),
        currency: orders
            .first()
            .map(|o| o.currency.clone())
            .unwrap_or_default(),
        orders: orders.into_iter().map(OrderView::from).collect(),
        id: s.id,
        email: s.email,
        status: s.status,
        carrier: s.carrier,
        tracking: s.tracking,
        shipped_at_ms: s.shipped_at_ms,
        created_at_ms: s.created_at_ms,
    }
}

async fn products_by_id(
    state: &AppState,
    show_id: &str,
) -> Result<HashMap<String, ProductRow>, ApiError> {
    Ok(store::all_products_of_show(&state.pool, show_id)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect())
}

/// `GET /api/v1/shows/{show}/shipments` (creator): parcels holding paid
/// orders, oldest first, each with its buyer, address, orders and items.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let products = products_by_id(&state, &show.id).await?;
    let shipments: Vec<ShipmentView> = shipments::of_show(&state.pool, &show.id)
        .await?
        .into_iter()
        .map(|(s, orders)| view(s, orders, &products))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(serde_json::json!({ "shipments": shipments })))
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
/// CR) is prefixed with `'`: the packing list holds buyers' own text.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// The packing list's columns: one parcel a row, what label tools import.
const CSV_HEADER: [&str; 17] = [
    "shipment_id",
    "status",
    "name",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "email",
    "items",
    "units",
    "orders",
    "shipping_cents",
    "currency",
    "carrier",
    "tracking",
];

/// `GET /api/v1/shows/{show}/shipments.csv` (creator): `text/csv`, a
/// header row then one row per parcel.
pub async fn csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let products = products_by_id(&state, &show.id).await?;
    let mut out = ::csv::Writer::from_writer(Vec::new());
    let write_err = |e: ::csv::Error| {
        tracing::error!(error = %e, "packing list could not be written");
        ApiError::internal()
    };
    out.write_record(CSV_HEADER).map_err(write_err)?;
    for (s, orders) in shipments::of_show(&state.pool, &show.id).await? {
        let a = s.shipping();
        let field = |f: fn(&wire::Address) -> String| a.as_ref().map(f).unwrap_or_default();
        let items = items(&orders, &products)
            .iter()
            .map(|i| format!("{} x {} {}", i.quantity, i.sku, i.title))
            .collect::<Vec<_>>()
            .join("; ");
        let row = [
            s.id.clone(),
            match s.status {
                ShipmentStatus::Unshipped => "unshipped".into(),
                ShipmentStatus::Shipped => "shipped".into(),
            },
            field(|a| a.name.clone()),
            field(|a| a.line1.clone()),
            field(|a| a.line2.clone().unwrap_or_default()),
            field(|a| a.city.clone()),
            field(|a| a.region.clone().unwrap_or_default()),
            field(|a| a.postal_code.clone()),
            field(|a| a.country.clone()),
            s.email.clone(),
            items,
            orders.iter().map(|o| o.quantity).sum::<i64>().to_string(),
            orders
                .iter()
                .map(|o| o.id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            orders
                .iter()
                .map(|o| o.shipping_cents)
                .sum::<i64>()
                .to_string(),
            orders
                .first()
                .map(|o| o.currency.clone())
                .unwrap_or_default(),
            s.carrier.clone().unwrap_or_default(),
            s.tracking.clone().unwrap_or_default(),
        ];
        out.write_record(row.iter().map(|c| cell(c)))
            .map_err(write_err)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| write_err(e.into_error().into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"dropcast-{}-packing-list.csv\"",
                show.id
            ),
        ))
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

fn shipment_not_found() -> ApiError {
    ApiError::not_found("shipment_not_found", "no shipment has this id")
}

/// The parcel named in the path, if the caller is the creator of its show.
async fn owned_shipment(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ShipmentRow, ApiError> {
    caller.require_creator()?;
    if !looks_like_id(id) {
        return Err(shipment_not_found());
    }
    let shipment = shipments::get(&state.pool, id)
        .await?
        .ok_or_else(shipment_not_found)?;
    let show = find_show(state, &shipment.show_id).await?;
    caller.owner_of(&show)?;
    Ok(shipment)
}

async fn shipped_view(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let shipment = shipments::get(&state.pool, id)
        .await?
        .ok_or_else(shipment_not_found)?;
    let products = products_by_id(state, &shipment.show_id).await?;
    let orders = shipments::paid_orders(&state.pool, &shipment.id).await?;
    Ok(HttpResponse::Ok().json(view(shipment, orders, &products)))
}

/// `POST /api/v1/shipments/{shipment}/ship` (creator) `{"carrier","tracking"}`:
/// marks it shipped and tells the buyer (once; a second call corrects the
/// tracking without a second notice).
pub async fn ship(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let carrier: Carrier = body.required("carrier")?;
    let tracking: TrackingNumber = body.required("tracking")?;
    body.finish()?;
    let shipment = owned_shipment(&state, &caller, &path).await?;
    match shipments::ship(
        &state.pool,
        &shipment.id,
        carrier.as_str(),
        tracking.as_str(),
    )
    .await?
    {
        Shipped::Now | Shipped::Corrected => shipped_view(&state, &shipment.id).await,
        Shipped::Empty => Err(ApiError::conflict(
            "nothing_to_ship",
            "no paid order is left in this shipment",
        )),
        Shipped::NotFound => Err(shipment_not_found()),
    }
}

/// The largest tracking CSV accepted (about 20,000 parcels).
const TRACKING_CSV_LIMIT: usize = 1024 * 1024;

/// One checked row of a tracking import.
struct TrackingRow {
    shipment_id: String,
    carrier: Carrier,
    tracking: TrackingNumber,
}

/// `POST /api/v1/shows/{show}/shipments/tracking` (creator), a `text/csv`
/// body with a header naming `shipment_id`, `carrier` and `tracking`
/// columns (others, like the packing list's, are ignored): marks each
/// parcel shipped. Every row is checked first; one bad row refuses the
/// whole file (422 `invalid_csv`, naming its lines) and nothing changes.
pub async fn import_tracking(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let is_csv = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the tracking numbers as `Content-Type: text/csv`",
        ));
    }
    if body.len() > TRACKING_CSV_LIMIT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the CSV is larger than {TRACKING_CSV_LIMIT} bytes"),
        ));
    }
    let invalid =
        |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv", message);
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(&body[..]);
    let headers = reader
        .headers()
        .map_err(|e| invalid(format!("the CSV cannot be read: {e}")))?
        .clone();
    let column = |names: &[&str]| {
        headers.iter().position(|h| {
            let h = h.trim_start_matches('\u{feff}').to_ascii_lowercase();
            names.contains(&h.as_str())
        })
    };
    let (Some(id_col), Some(carrier_col), Some(tracking_col)) = (
        column(&["shipment_id", "shipment"]),
        column(&["carrier"]),
        column(&["tracking", "tracking_number"]),
    ) else {
        return Err(invalid(
            "the header row must name `shipment_id`, `carrier` and `tracking` columns".into(),
        ));
    };
    let parcels: HashMap<String, ShipmentRow> = shipments::of_show(&state.pool, &show.id)
        .await?
        .into_iter()
        .map(|(s, _)| (s.id.clone(), s))
        .collect();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |c: usize| record.get(c).unwrap_or("");
        let id = get(id_col);
        if !parcels.contains_key(id) {
            let shown: String = id.chars().take(40).collect();
            errors.push(format!(
                "line {line}: no shipment of this show has id {shown:?}"
            ));
            continue;
        }
        if !seen.insert(id.to_string()) {
            errors.push(format!("line {line}: shipment {id} is named twice"));
            continue;
        }
        match (
            Carrier::parse(get(carrier_col)),
            TrackingNumber::parse(get(tracking_col)),
        ) {
            (Ok(carrier), Ok(tracking)) => rows.push(TrackingRow {
                shipment_id: id.to_string(),
                carrier,
                tracking,
            }),
            (Err(e), _) => errors.push(format!("line {line}: carrier {e}")),
            (_, Err(e)) => errors.push(format!("line {line}: tracking {e}")),
        }
    }
    if !errors.is_empty() {
        let shown: Vec<&str> = errors.iter().take(20).map(String::as_str).collect();
        let more = errors.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        return Err(invalid(format!(
            "nothing was changed: {}{tail}",
            shown.join("; ")
        )));
    }
    let (mut shipped, mut corrected) = (0, 0);
    for row in rows {
        match shipments::ship(
            &state.pool,
            &row.shipment_id,
            row.carrier.as_str(),
            row.tracking.as_str(),
        )
        .await?
        {
            Shipped::Now => shipped += 1,
            Shipped::Corrected => corrected += 1,
            Shipped::Empty | Shipped::NotFound => {}
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "shipped": shipped, "corrected": corrected })))
}
