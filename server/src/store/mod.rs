//! Every SQL statement of the server, grouped by table.
//!
//! Statements are written once for both databases (see [`crate::db`]). Rows
//! that live events are built from carry their `version`, bumped in the same
//! statement that changes the row, so the live rooms can tell a newer figure
//! from an older one whatever order concurrent requests publish in.

pub mod announcements;
pub mod clips;
pub mod images;
pub mod mail;
pub mod media;
pub mod nodes;
pub mod orders;
pub mod outbox;
pub mod shipments;
pub mod timeline;

use sqlx::{AnyPool, FromRow, Row};
use wire::{Countdown, CountdownKind, Product};

use crate::now_ms;

// ---------------------------------------------------------------- tokens

/// Roles a stored token can carry (admin is configured, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    Creator,
    Editor,
    Viewer,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Creator => "creator",
            TokenRole::Editor => "editor",
            TokenRole::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "creator" => Some(TokenRole::Creator),
            "editor" => Some(TokenRole::Editor),
            "viewer" => Some(TokenRole::Viewer),
            _ => None,
        }
    }
}

/// Stores a token's hash; returns the token's id (which names it without
/// revealing it). `expires_at_ms`: `None` never expires.
pub async fn insert_token<'e, E>(
    exec: E,
    token_hash: &str,
    role: TokenRole,
    subject_id: &str,
    expires_at_ms: Option<i64>,
) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let token_id = crate::domain::ids::new_id("tok");
    sqlx::query(
        "INSERT INTO tokens (token_hash, role, subject_id, created_at_ms, token_id, expires_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(role.as_str())
    .bind(subject_id)
    .bind(now_ms())
    .bind(&token_id)
    .bind(expires_at_ms)
    .execute(exec)
    .await?;
    Ok(token_id)
}

/// A live token, found by its hash.
#[derive(Debug, Clone)]
pub struct FoundToken {
    pub role: TokenRole,
    pub subject_id: String,
    pub expires_at_ms: Option<i64>,
}

/// The token with this hash, unless it expired.
pub async fn find_token(
    pool: &AnyPool,
    token_hash: &str,
) -> Result<Option<FoundToken>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT role, subject_id, expires_at_ms FROM tokens
         WHERE token_hash = $1 AND (expires_at_ms IS NULL OR expires_at_ms > $2)",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        let role: String = r.get("role");
        TokenRole::parse(&role).map(|role| FoundToken {
            role,
            subject_id: r.get("subject_id"),
            expires_at_ms: r.get("expires_at_ms"),
        })
    }))
}

/// Moves a session's expiry on (sliding expiry).
pub async fn extend_token(
    pool: &AnyPool,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tokens SET expires_at_ms = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(expires_at_ms)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes every token of `role` for `subject_id` (a session ended, a
/// creator's token rotated); how many there were.
pub async fn revoke_tokens(
    pool: &AnyPool,
    role: TokenRole,
    subject_id: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM tokens WHERE role = $1 AND subject_id = $2")
        .bind(role.as_str())
        .bind(subject_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// A creator as they see themselves.
#[derive(Debug, Clone, FromRow)]
pub struct CreatorRow {
    pub id: String,
    pub name: String,
    /// JSON array of origins allowed to frame the creator's pages; NULL: any.
    pub embed_origins: Option<String>,
    /// Where buyers' answers to their order mail go (`Reply-To`).
    pub email: Option<String>,
}

pub async fn get_creator(pool: &AnyPool, id: &str) -> Result<Option<CreatorRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, embed_origins, email FROM creators WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The creator's reply-to address (`None` clears it).
pub async fn set_creator_email(
    pool: &AnyPool,
    creator_id: &str,
    email: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE creators SET email = $2 WHERE id = $1")
        .bind(creator_id)
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

/// The sites that may frame the creator's pages (`None`: any).
pub async fn set_embed_origins(
    pool: &AnyPool,
    creator_id: &str,
    origins_json: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE creators SET embed_origins = $2 WHERE id = $1")
        .bind(creator_id)
        .bind(origins_json)
        .execute(pool)
        .await?;
    Ok(())
}

/// Replaces a creator's tokens by one new one, in one transaction.
pub async fn rotate_creator_token(
    pool: &AnyPool,
    creator_id: &str,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM tokens WHERE role = 'creator' AND subject_id = $1")
        .bind(creator_id)
        .execute(&mut *tx)
        .await?;
    insert_token(&mut *tx, token_hash, TokenRole::Creator, creator_id, None).await?;
    tx.commit().await
}

/// An editor token of a show, named by its id.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct EditorToken {
    pub id: String,
    pub created_at_ms: i64,
}

pub async fn editor_tokens(pool: &AnyPool, show_id: &str) -> Result<Vec<EditorToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token_id AS id, created_at_ms FROM tokens
         WHERE role = 'editor' AND subject_id = $1 AND token_id IS NOT NULL
         ORDER BY created_at_ms, token_id",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await
}

/// Revokes one editor token of the show; false if it has none with this id.
pub async fn revoke_editor(
    pool: &AnyPool,
    show_id: &str,
    token_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM tokens WHERE role = 'editor' AND subject_id = $1 AND token_id = $2",
    )
    .bind(show_id)
    .bind(token_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the show a new stream key; the old one is refused from now on.
pub async fn rotate_stream_key(
    pool: &AnyPool,
    show_id: &str,
    stream_key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shows SET stream_key = $2 WHERE id = $1")
        .bind(show_id)
        .bind(stream_key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets a buyer's saved card (the session's tokens go separately).
pub async fn forget_viewer_card(pool: &AnyPool, viewer_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE viewers SET payment_method_id = NULL, card_brand = NULL, card_last4 = NULL,
             card_fingerprint = NULL
         WHERE id = $1",
    )
    .bind(viewer_id)
    .execute(pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- work queues

/// Claims up to `limit` due rows of a work queue (`stripe_outbox`,
/// `mail_jobs`: `status`, `next_attempt_at_ms`, `claimed_by`,
/// `claimed_until_ms`, `attempts`) for `claimer` until `now + claim_ms`:
/// rows another worker holds are skipped (`FOR UPDATE SKIP LOCKED` on
/// PostgreSQL; SQLite's single writer makes the claim atomic). With `only`
/// `(column, value)`, just the rows of one lane of the queue.
pub(crate) async fn claim_due_rows<T>(
    pool: &AnyPool,
    table: &'static str,
    columns: &'static str,
    only: Option<(&'static str, &str)>,
    claimer: &str,
    claim_ms: i64,
    limit: i64,
) -> Result<Vec<T>, sqlx::Error>
where
    T: Send + Unpin + for<'r> FromRow<'r, sqlx::any::AnyRow>,
{
    let lane = only.map_or(String::new(), |(column, _)| format!(" AND {column} = $5"));
    let skip_locked = match crate::db::Backend::of_pool(pool) {
        crate::db::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::db::Backend::Sqlite => "",
    };
    let now = now_ms();
    let sql = format!(
        "UPDATE {table} SET claimed_by = $1, claimed_until_ms = $2,
             attempts = attempts + 1, updated_at_ms = $3
         WHERE id IN (SELECT id FROM {table}
                      WHERE status = 'pending' AND next_attempt_at_ms <= $3
                        AND (claimed_until_ms IS NULL OR claimed_until_ms < $3){lane}
                      ORDER BY next_attempt_at_ms LIMIT $4{skip_locked})
         RETURNING {columns}"
    );
    let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(claimer)
        .bind(now + claim_ms)
        .bind(now)
        .bind(limit);
    match only {
        Some((_, value)) => query.bind(value).fetch_all(pool).await,
        None => query.fetch_all(pool).await,
    }
}

// ---------------------------------------------------------------- secrets

/// A secret every node shares, made by whichever node asks first.
pub async fn shared_secret(pool: &AnyPool, name: &str) -> Result<String, sqlx::Error> {
    shared_secret_with(pool, name, || crate::domain::ids::new_secret("key")).await
}

/// A secret every node shares, made by `make` on whichever node asks first
/// (a key of some shape, like the VAPID key pair): every node reads the
/// first one kept.
pub async fn shared_secret_with(
    pool: &AnyPool,
    name: &str,
    make: impl FnOnce() -> String,
) -> Result<String, sqlx::Error> {
    sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(make())
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

// ---------------------------------------------------------------- creators

/// Creates a creator and its first token in one transaction.
pub async fn create_creator(
    pool: &AnyPool,
    id: &str,
    name: &str,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO creators (id, name, created_at_ms) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    insert_token(&mut *tx, token_hash, TokenRole::Creator, id, None).await?;
    tx.commit().await
}

/// The id of the creator with this name, if any (used by the demo seed).
pub async fn find_creator_by_name(
    pool: &AnyPool,
    name: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM creators WHERE name = $1 ORDER BY created_at_ms LIMIT 1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

// ---------------------------------------------------------------- shows

#[derive(Debug, Clone, FromRow)]
pub struct ShowRow {
    pub id: String,
    pub creator_id: String,
    pub title: String,
    pub stream_key: String,
    pub pinned_product_id: Option<String>,
    pub live: i64,
    pub version: i64,
    pub created_at_ms: i64,
    /// Charged once per buyer's parcel instead of the products' own shipping.
    pub shipping_flat_cents: Option<i64>,
    pub scheduled_at_ms: Option<i64>,
    /// When a publisher first streamed to it; a show that never went live can be deleted.
    pub went_live_at_ms: Option<i64>,
    /// The node publishing it now (its ingest lease), if any.
    pub ingest_node: Option<String>,
    /// Its cover picture (640 wide), shown before it starts.
    pub cover_url: Option<String>,
}

#[macro_export]
#[doc(hidden)]
macro_rules! show_columns {
    () => {
        "id, creator_id, title, stream_key, pinned_product_id, live, version, created_at_ms, \
         shipping_flat_cents, scheduled_at_ms, went_live_at_ms, ingest_node, cover_url"
    };
}

/// A change to a show's title, flat shipping or schedule; `Some(None)` clears.
#[derive(Default)]
pub struct ShowPatch<'a> {
    pub title: Option<&'a str>,
    pub shipping_flat_cents: Option<Option<i64>>,
    pub scheduled_at_ms: Option<Option<i64>>,
    /// Buyers a restock wakes per new unit.
    pub restock_wake_factor: Option<i64>,
}

pub async fn update_show(
    pool: &AnyPool,
    show_id: &str,
    patch: ShowPatch<'_>,
) -> Result<Option<ShowRow>, sqlx::Error> {
    let flag = |o: &Option<Option<i64>>| i64::from(o.is_some());
    sqlx::query_as(concat!(
        "UPDATE shows SET title = COALESCE($2, title),
             shipping_flat_cents = CASE WHEN $3 = 1 THEN $4 ELSE shipping_flat_cents END,
             scheduled_at_ms = CASE WHEN $5 = 1 THEN $6 ELSE scheduled_at_ms END,
             restock_wake_factor = COALESCE($7, restock_wake_factor),
             version = version + 1
         WHERE id = $1 RETURNING ",
        show_columns!()
    ))
    .bind(show_id)
    .bind(patch.title)
    .bind(flag(&patch.shipping_flat_cents))
    .bind(patch.shipping_flat_cents.flatten())
    .bind(flag(&patch.scheduled_at_ms))
    .bind(patch.scheduled_at_ms.flatten())
    .bind(patch.restock_wake_factor)
    .fetch_optional(pool)
    .await
}

/// What deleting a show came to.
#[derive(Debug, PartialEq, Eq)]
pub enum ShowDeleted {
    Deleted,
    /// It went live once: its replay, clips and timeline are kept.
    WasLive,
    /// Buyers ordered from it.
    HasOrders,
}

/// Deletes a show that never went live and has no orders, with everything
/// hung on it, in one transaction; the check is part of the delete.
pub async fn delete_show(pool: &AnyPool, show_id: &str) -> Result<ShowDeleted, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // On PostgreSQL the row is locked first, FOR UPDATE: a guard UPDATE alone
    // takes a lock that a concurrent insert's foreign-key check does not wait
    // for, so the timeline writer could add a `show_events` row between our
    // DELETE of them and the DELETE of the show. (SQLite runs one writer.)
    if crate::db::Backend::of_pool(pool) == crate::db::Backend::Postgres {
        sqlx::query("SELECT id FROM shows WHERE id = $1 FOR UPDATE")
            .bind(show_id)
            .fetch_optional(&mut *tx)
            .await?;
    }
    // The guard first (it takes the row), then the rows that point at it.
    let guarded = sqlx::query(
        "UPDATE shows SET version = version + 1
         WHERE id = $1 AND went_live_at_ms IS NULL AND live = 0
           AND NOT EXISTS (SELECT 1 FROM orders WHERE show_id = $1)",
    )
    .bind(show_id)
    .execute(&mut *tx)
    .await?;
    if guarded.rows_affected() != 1 {
        tx.rollback().await?;
        let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE show_id = $1")
            .bind(show_id)
            .fetch_one(pool)
            .await?;
        return Ok(if orders > 0 {
            ShowDeleted::HasOrders
        } else {
            ShowDeleted::WasLive
        });
    }
    for sql in [
        "DELETE FROM countdowns WHERE show_id = $1",
        "DELETE FROM stream_health WHERE show_id = $1",
        "DELETE FROM show_events WHERE show_id = $1",
        "DELETE FROM clip_events WHERE clip_id IN (SELECT id FROM clips WHERE show_id = $1)",
        "DELETE FROM clips WHERE show_id = $1",
        "DELETE FROM segments WHERE show_id = $1",
        "DELETE FROM tokens WHERE role = 'editor' AND subject_id = $1",
        "DELETE FROM product_images WHERE product_id IN (SELECT id FROM products WHERE show_id = $1)",
        "DELETE FROM products WHERE show_id = $1",
        "DELETE FROM shows WHERE id = $1",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(show_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ShowDeleted::Deleted)
}

pub async fn insert_show(
    pool: &AnyPool,
    id: &str,
    creator_id: &str,
    title: &str,
    stream_key: &str,
) -> Result<ShowRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO shows (id, creator_id, title, stream_key, created_at_ms)
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        show_columns!()
    ))
    .bind(id)
    .bind(creator_id)
    .bind(title)
    .bind(stream_key)
    .bind(now_ms())
    .fetch_one(pool)
    .await
}

pub async fn get_show(pool: &AnyPool, id: &str) -> Result<Option<ShowRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        show_columns!(),
        " FROM shows WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn shows_of_creator(
    pool: &AnyPool,
    creator_id: &str,
) -> Result<Vec<ShowRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        show_columns!(),
        " FROM shows WHERE creator_id = $1 ORDER BY created_at_ms, id"
    ))
    .bind(creator_id)
    .fetch_all(pool)
    .await
}

/// Pins (or with `None` unpins) a product and stamps the show's timeline;
/// returns the show's new version.
pub async fn set_pin(
    pool: &AnyPool,
    show_id: &str,
    product_id: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE shows SET pinned_product_id = $2, version = version + 1
         WHERE id = $1 RETURNING version",
    )
    .bind(show_id)
    .bind(product_id)
    .fetch_optional(&mut *tx)
    .await?;
    if version.is_some() {
        insert_show_event(&mut *tx, show_id, "pin", product_id).await?;
    }
    tx.commit().await?;
    Ok(version)
}

/// Stamps an event on the show's timeline.
pub async fn insert_show_event<'e, E>(
    exec: E,
    show_id: &str,
    kind: &str,
    product_id: Option<&str>,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO show_events (id, show_id, kind, product_id, at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(crate::domain::ids::new_id("ev"))
        .bind(show_id)
        .bind(kind)
        .bind(product_id)
        .bind(now_ms())
        .execute(exec)
        .await?;
    Ok(())
}

/// `(product_id, at_ms)` of every pin of the show, oldest first.
pub async fn pins_of_show(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT product_id, at_ms FROM show_events WHERE show_id = $1 AND kind = 'pin' ORDER BY at_ms")
        .bind(show_id)
        .fetch_all(pool)
        .await
}

/// Raises the show's recorded viewer peak to `count` if that is higher.
pub async fn raise_viewers_peak(
    pool: &AnyPool,
    show_id: &str,
    count: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shows SET viewers_peak = $2 WHERE id = $1 AND viewers_peak < $2")
        .bind(show_id)
        .bind(count)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn viewers_peak(pool: &AnyPool, show_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT viewers_peak FROM shows WHERE id = $1")
        .bind(show_id)
        .fetch_one(pool)
        .await
}

// ---------------------------------------------------------------- products

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: String,
    pub show_id: String,
    pub sku: String,
    pub title: String,
    pub price_cents: i64,
    pub currency: String,
    pub image_url: Option<String>,
    /// The small size of an uploaded image (none for a creator's own URL).
    pub image_thumb_url: Option<String>,
    pub max_per_buyer: Option<i64>,
    pub stock_total: i64,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
    pub version: i64,
    #[sqlx(try_from = "String")]
    pub fulfilment: FulfilmentCol,
    pub shipping_cents: i64,
    pub archived_at_ms: Option<i64>,
}

/// `products.fulfilment` as read from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FulfilmentCol(pub wire::Fulfilment);

impl TryFrom<String> for FulfilmentCol {
    type Error = crate::domain::order::UnknownState;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        wire::Fulfilment::parse(&s)
            .map(FulfilmentCol)
            .ok_or_else(|| crate::domain::order::UnknownState::new(s))
    }
}

#[macro_export]
#[doc(hidden)]
macro_rules! product_columns {
    () => {
        "id, show_id, sku, title, price_cents, currency, image_url, image_thumb_url, \
         max_per_buyer, stock_total, available, held, sold, version, fulfilment, shipping_cents, \
         archived_at_ms"
    };
}

impl ProductRow {
    pub fn to_wire(&self) -> Product {
        Product {
            id: self.id.clone(),
            sku: self.sku.clone(),
            title: self.title.clone(),
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            available: self.available,
            sold: self.sold,
            max_per_buyer: self.max_per_buyer,
            image_url: self.image_url.clone(),
            thumb_url: self.image_thumb_url.clone(),
            fulfilment: self.fulfilment.0,
            shipping_cents: self.shipping_cents,
            archived: self.archived_at_ms.is_some(),
        }
    }

    pub fn ships(&self) -> bool {
        self.fulfilment.0 == wire::Fulfilment::Shipping
    }
}

/// What a new product is made of; validated by the route.
pub struct NewProduct<'a> {
    pub id: &'a str,
    pub show_id: &'a str,
    pub sku: &'a str,
    pub title: &'a str,
    pub price_cents: i64,
    pub currency: &'a str,
    pub stock: i64,
    pub max_per_buyer: Option<i64>,
    pub image_url: Option<&'a str>,
    pub fulfilment: wire::Fulfilment,
    pub shipping_cents: i64,
}

pub async fn insert_product(pool: &AnyPool, p: NewProduct<'_>) -> Result<ProductRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO products (id, show_id, sku, title, price_cents, currency, image_url,
             max_per_buyer, stock_total, available, held, sold, version, position, created_at_ms,
             fulfilment, shipping_cents)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 0, 0, 1,
             COALESCE(MAX(position), 0) + 1, $10, $11, $12
         FROM products WHERE show_id = $2
         RETURNING ",
        product_columns!()
    ))
    .bind(p.id)
    .bind(p.show_id)
    .bind(p.sku)
    .bind(p.title)
    .bind(p.price_cents)
    .bind(p.currency)
    .bind(p.image_url)
    .bind(p.max_per_buyer)
    .bind(p.stock)
    .bind(now_ms())
    .bind(p.fulfilment.as_str())
    .bind(p.shipping_cents)
    .fetch_one(pool)
    .await
}

pub async fn get_product(
    pool: &AnyPool,
    show_id: &str,
    product_id: &str,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        product_columns!(),
        " FROM products WHERE id = $1 AND show_id = $2"
    ))
    .bind(product_id)
    .bind(show_id)
    .fetch_optional(pool)
    .await
}

pub async fn products_of_show(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        product_columns!(),
        " FROM products WHERE show_id = $1 AND archived_at_ms IS NULL ORDER BY position, id"
    ))
    .bind(show_id)
    .fetch_all(pool)
    .await
}

/// Every product of the show, archived ones too (orders name them).
pub async fn all_products_of_show(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        product_columns!(),
        " FROM products WHERE show_id = $1 ORDER BY position, id"
    ))
    .bind(show_id)
    .fetch_all(pool)
    .await
}

/// A change to a product: any of its fields, its stock, whether it is archived.
#[derive(Default)]
pub struct ProductPatch<'a> {
    pub title: Option<&'a str>,
    pub price_cents: Option<i64>,
    /// Added to both `available` and `stock_total`; negative removes units.
    pub add_stock: i64,
    pub image_url: Option<&'a str>,
    /// `Some(None)` lifts the limit.
    pub max_per_buyer: Option<Option<i64>>,
    pub fulfilment: Option<wire::Fulfilment>,
    pub shipping_cents: Option<i64>,
    /// `Some(true)` archives (now), `Some(false)` puts it back.
    pub archived: Option<bool>,
}

/// Applies `patch` in one conditional statement: it only happens if the
/// product exists, removal leaves `available >= 0`, and the total stays within
/// `max_total`. `None` means one of those did not hold; the caller reads the row
/// to say which.
pub async fn update_product(
    pool: &AnyPool,
    show_id: &str,
    product_id: &str,
    patch: ProductPatch<'_>,
    max_total: i64,
) -> Result<Option<ProductRow>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<ProductRow> = sqlx::query_as(concat!(
        "UPDATE products SET
             title = COALESCE($3, title),
             price_cents = COALESCE($4, price_cents),
             available = available + $5,
             stock_total = stock_total + $5,
             image_url = COALESCE($7, image_url),
             image_thumb_url = CASE WHEN $7 IS NULL THEN image_thumb_url ELSE NULL END,
             max_per_buyer = CASE WHEN $13 = 1 THEN $8 ELSE max_per_buyer END,
             fulfilment = COALESCE($9, fulfilment),
             shipping_cents = COALESCE($10, shipping_cents),
             archived_at_ms = CASE WHEN $11 = 1 THEN COALESCE(archived_at_ms, $12)
                                   WHEN $11 = 0 THEN NULL ELSE archived_at_ms END,
             version = version + 1
         WHERE id = $1 AND show_id = $2
           AND available + $5 >= 0 AND stock_total + $5 <= $6
         RETURNING ",
        product_columns!()
    ))
    .bind(product_id)
    .bind(show_id)
    .bind(patch.title)
    .bind(patch.price_cents)
    .bind(patch.add_stock)
    .bind(max_total)
    .bind(patch.image_url)
    .bind(patch.max_per_buyer.flatten())
    .bind(patch.fulfilment.map(wire::Fulfilment::as_str))
    .bind(patch.shipping_cents)
    .bind(patch.archived.map(i64::from))
    .bind(now_ms())
    .bind(i64::from(patch.max_per_buyer.is_some()))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(p) = &row
        && patch.add_stock > 0
    {
        // Restocked: wake (part of) its waitlist, in the same transaction.
        announcements::schedule_restock(&mut tx, show_id, p, patch.add_stock).await?;
    }
    tx.commit().await?;
    Ok(row)
}

// ---------------------------------------------------------------- countdowns

#[derive(Debug, Clone, FromRow)]
struct CountdownRow {
    id: String,
    kind: String,
    product_id: Option<String>,
    label: Option<String>,
    ends_at_ms: i64,
    set_at_ms: Option<i64>,
    hold_seconds: Option<i64>,
}

impl CountdownRow {
    fn to_wire(&self) -> Option<Countdown> {
        Some(Countdown {
            id: self.id.clone(),
            kind: CountdownKind::parse(&self.kind)?,
            product_id: self.product_id.clone(),
            label: self.label.clone(),
            ends_at_ms: self.ends_at_ms,
            set_at_ms: self.set_at_ms,
            hold_seconds: self.hold_seconds,
        })
    }
}

/// Starts a countdown; a `drop_opens` one schedules, in the same
/// transaction, its "drops soon" notice two minutes before it ends (at
/// once if it is shorter).
pub async fn insert_countdown(
    pool: &AnyPool,
    show_id: &str,
    c: &Countdown,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO countdowns (id, show_id, kind, product_id, label, ends_at_ms, position,
             created_at_ms, hold_seconds, set_at_ms)
         SELECT $1, $2, $3, $4, $5, $6, COALESCE(MAX(position), 0) + 1, $7, $8, $9
         FROM countdowns WHERE show_id = $2",
    )
    .bind(&c.id)
    .bind(show_id)
    .bind(c.kind.as_str())
    .bind(c.product_id.as_deref())
    .bind(c.label.as_deref())
    .bind(c.ends_at_ms)
    .bind(now_ms())
    .bind(c.hold_seconds)
    .bind(c.set_at_ms)
    .execute(&mut *tx)
    .await?;
    if c.kind == wire::CountdownKind::DropOpens {
        announcements::schedule(
            &mut *tx,
            announcements::NewNotice {
                show_id,
                kind: crate::domain::announce::NoticeKind::DropSoon,
                product_id: c.product_id.as_deref(),
                text: "",
                dedupe_key: &announcements::drop_soon_key(&c.id),
                due_at_ms: announcements::drop_soon_due(c.ends_at_ms),
                wake_limit: None,
            },
        )
        .await?;
    }
    tx.commit().await
}

/// Cancels a countdown; false if the show has none with this id.
pub async fn delete_countdown(
    pool: &AnyPool,
    show_id: &str,
    countdown_id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("DELETE FROM countdowns WHERE id = $1 AND show_id = $2")
        .bind(countdown_id)
        .bind(show_id)
        .execute(&mut *tx)
        .await?;
    // Its "drops soon" notice, if not sent yet, goes too.
    announcements::cancel(&mut *tx, &announcements::drop_soon_key(countdown_id)).await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// What replacing a countdown changes; `None` keeps the field.
pub struct CountdownPatch<'a> {
    pub ends_at_ms: Option<i64>,
    /// When the new end was set (with `ends_at_ms`).
    pub set_at_ms: Option<i64>,
    pub label: Option<&'a str>,
    pub hold_seconds: Option<i64>,
}

/// Replaces a countdown's end, label or hold; the countdown as it is now.
pub async fn update_countdown(
    pool: &AnyPool,
    show_id: &str,
    countdown_id: &str,
    patch: CountdownPatch<'_>,
) -> Result<Option<Countdown>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<CountdownRow> = sqlx::query_as(
        "UPDATE countdowns SET ends_at_ms = COALESCE($3, ends_at_ms),
             label = COALESCE($4, label), hold_seconds = COALESCE($5, hold_seconds),
             set_at_ms = COALESCE($6, set_at_ms)
         WHERE id = $1 AND show_id = $2
         RETURNING id, kind, product_id, label, ends_at_ms, set_at_ms, hold_seconds",
    )
    .bind(countdown_id)
    .bind(show_id)
    .bind(patch.ends_at_ms)
    .bind(patch.label)
    .bind(patch.hold_seconds)
    .bind(patch.set_at_ms)
    .fetch_optional(&mut *tx)
    .await?;
    if let (Some(r), Some(_)) = (&row, patch.ends_at_ms) {
        // A new end moves its "drops soon" notice, if not sent yet.
        announcements::reschedule(
            &mut *tx,
            &announcements::drop_soon_key(&r.id),
            announcements::drop_soon_due(r.ends_at_ms),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(row.as_ref().and_then(CountdownRow::to_wire))
}

pub async fn countdowns_of_show<'e, E>(
    exec: E,
    show_id: &str,
) -> Result<Vec<Countdown>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<CountdownRow> = sqlx::query_as(
        "SELECT id, kind, product_id, label, ends_at_ms, set_at_ms, hold_seconds FROM countdowns
         WHERE show_id = $1 ORDER BY position, id",
    )
    .bind(show_id)
    .fetch_all(exec)
    .await?;
    Ok(rows.iter().filter_map(CountdownRow::to_wire).collect())
}

// ---------------------------------------------------------------- a show's whole state

/// Everything viewers see of a show, with the versions live rooms order by.
#[derive(Debug, Clone)]
pub struct ShowState {
    pub show: ShowRow,
    pub products: Vec<ProductRow>,
    pub countdowns: Vec<Countdown>,
}

impl ShowState {
    pub fn to_view(&self) -> wire::ShowView {
        wire::ShowView {
            id: self.show.id.clone(),
            title: self.show.title.clone(),
            live: self.show.live != 0,
            products: self.products.iter().map(ProductRow::to_wire).collect(),
            pinned_product_id: self.show.pinned_product_id.clone(),
            countdowns: self.countdowns.clone(),
            shipping_flat_cents: self.show.shipping_flat_cents,
            scheduled_at_ms: self.show.scheduled_at_ms,
            cover_url: self.show.cover_url.clone(),
        }
    }
}

/// Reads a show's state. Three reads, not one snapshot: a row changed in
/// between is also published live, and its version sorts the two out.
pub async fn load_show_state(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Option<ShowState>, sqlx::Error> {
    let Some(show) = get_show(pool, show_id).await? else {
        return Ok(None);
    };
    let products = products_of_show(pool, show_id).await?;
    let countdowns = countdowns_of_show(pool, show_id).await?;
    Ok(Some(ShowState {
        show,
        products,
        countdowns,
    }))
}

// ---------------------------------------------------------------- viewers

#[derive(Debug, Clone, FromRow)]
pub struct ViewerRow {
    pub id: String,
    pub email: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub payment_method_id: Option<String>,
    /// Stripe's fingerprint of the saved card: the same card in any session.
    pub card_fingerprint: Option<String>,
    /// Where the buyer's parcels go: a [`wire::Address`] as JSON.
    pub shipping_json: Option<String>,
}

impl ViewerRow {
    pub fn shipping(&self) -> Option<wire::Address> {
        self.shipping_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

/// Stores the buyer's shipping address (already validated).
pub async fn set_viewer_shipping(
    pool: &AnyPool,
    id: &str,
    address: &wire::Address,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE viewers SET shipping_json = $2 WHERE id = $1")
        .bind(id)
        .bind(serde_json::to_string(address).expect("an address serializes"))
        .execute(pool)
        .await?;
    Ok(())
}

/// Stores a buyer's Stripe customer (made on their first saved card).
pub async fn set_viewer_customer(
    pool: &AnyPool,
    id: &str,
    customer_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE viewers SET stripe_customer_id = $2 WHERE id = $1")
        .bind(id)
        .bind(customer_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stores the buyer's saved card for one-tap checkout.
pub async fn set_viewer_card(
    pool: &AnyPool,
    id: &str,
    email: &str,
    payment_method_id: &str,
    brand: &str,
    last4: &str,
    fingerprint: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE viewers SET email = $2, payment_method_id = $3, card_brand = $4, card_last4 = $5,
             card_fingerprint = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(email)
    .bind(payment_method_id)
    .bind(brand)
    .bind(last4)
    .bind(fingerprint)
    .execute(pool)
    .await?;
    Ok(())
}

/// A new buyer session whose token expires at `expires_at_ms` (sliding).
pub async fn create_viewer(
    pool: &AnyPool,
    id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO viewers (id, created_at_ms) VALUES ($1, $2)")
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    insert_token(
        &mut *tx,
        token_hash,
        TokenRole::Viewer,
        id,
        Some(expires_at_ms),
    )
    .await?;
    tx.commit().await
}

pub async fn get_viewer(pool: &AnyPool, id: &str) -> Result<Option<ViewerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, stripe_customer_id, card_brand, card_last4, payment_method_id,
                card_fingerprint, shipping_json
         FROM viewers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
