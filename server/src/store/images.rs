//! Product images (`product_images`): the bytes of every size, so any node
//! can serve them, and the product's URLs, set in the same transaction.

use sqlx::AnyPool;

use super::ProductRow;

/// One size of an image to keep: its file name (the row's id), and what
/// it is.
pub struct StoredVariant<'a> {
    pub file: &'a str,
    pub width: i64,
    pub height: i64,
    pub jpeg: &'a [u8],
}

/// Keeps the sizes of a new image and makes it the product's picture
/// (`image_url` the large size, `image_thumb_url` the small one); the
/// product's version moves, so viewers get the change. `None` if the show
/// has no such product (nothing is kept).
pub async fn set_product_image(
    pool: &AnyPool,
    show_id: &str,
    product_id: &str,
    variants: &[StoredVariant<'_>],
    image_url: &str,
    thumb_url: &str,
) -> Result<Option<ProductRow>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let product: Option<ProductRow> = sqlx::query_as(concat!(
        "UPDATE products SET image_url = $3, image_thumb_url = $4, version = version + 1
         WHERE id = $1 AND show_id = $2 RETURNING ",
        crate::product_columns!()
    ))
    .bind(product_id)
    .bind(show_id)
    .bind(image_url)
    .bind(thumb_url)
    .fetch_optional(&mut *tx)
    .await?;
    if product.is_none() {
        return Ok(None);
    }
    keep_variants(
        &mut tx,
        "product_images",
        "product_id",
        product_id,
        variants,
    )
    .await?;
    tx.commit().await?;
    Ok(product)
}

/// Keeps the sizes of an image as rows of `table` (`product_images`,
/// `show_images`), owned by `owner_id` in `owner_column`.
async fn keep_variants(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &'static str,
    owner_column: &'static str,
    owner_id: &str,
    variants: &[StoredVariant<'_>],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {table} (id, {owner_column}, content_type, width, height, bytes, created_at_ms)
         VALUES ($1, $2, 'image/jpeg', $3, $4, $5, $6)"
    );
    for v in variants {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(v.file)
            .bind(owner_id)
            .bind(v.width)
            .bind(v.height)
            .bind(v.jpeg)
            .bind(crate::now_ms())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Takes the product's picture away (its stored sizes stay, for pages
/// still showing them). `None` if the show has no such product.
pub async fn clear_product_image(
    pool: &AnyPool,
    show_id: &str,
    product_id: &str,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE products SET image_url = NULL, image_thumb_url = NULL, version = version + 1
         WHERE id = $1 AND show_id = $2 RETURNING ",
        crate::product_columns!()
    ))
    .bind(product_id)
    .bind(show_id)
    .fetch_optional(pool)
    .await
}

/// The bytes of a stored size, by its file name (a product's picture or a
/// show's cover).
pub async fn image_bytes(pool: &AnyPool, file: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT bytes FROM product_images WHERE id = $1
         UNION ALL SELECT bytes FROM show_images WHERE id = $1",
    )
    .bind(file)
    .fetch_optional(pool)
    .await
}

/// Keeps the sizes of a new cover and makes it the show's (`cover_url`,
/// the large size); the show's version moves. `false` if there is no such
/// show (nothing is kept).
pub async fn set_show_cover(
    pool: &AnyPool,
    show_id: &str,
    variants: &[StoredVariant<'_>],
    cover_url: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("UPDATE shows SET cover_url = $2, version = version + 1 WHERE id = $1")
        .bind(show_id)
        .bind(cover_url)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    keep_variants(&mut tx, "show_images", "show_id", show_id, variants).await?;
    tx.commit().await?;
    Ok(true)
}

/// Takes the show's cover away (its stored sizes stay, for pages still
/// showing them).
pub async fn clear_show_cover(pool: &AnyPool, show_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shows SET cover_url = NULL, version = version + 1 WHERE id = $1")
        .bind(show_id)
        .execute(pool)
        .await?;
    Ok(())
}
