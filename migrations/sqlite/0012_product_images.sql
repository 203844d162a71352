-- Product images uploaded by the creator, resized to the sizes the pages
-- use. The bytes live here, so every node can serve them (each keeps a copy
-- under its data dir); a new upload is a new id, so a URL never changes
-- what it shows and is cached for a year. Same in ../postgres/0013_product_images.sql.
CREATE TABLE product_images (
    id            TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL REFERENCES products (id),
    content_type  TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    bytes         BLOB NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX product_images_product ON product_images (product_id);
-- The small size, for lists and the shop bag (image_url is the large one,
-- or a creator's own URL, which has no small size).
ALTER TABLE products ADD COLUMN image_thumb_url TEXT;
