-- Product images uploaded by the creator, resized to the sizes the pages
-- use. The bytes live here, so every node can serve them (each keeps a copy
-- under its data dir); a new upload is a new id, so a URL never changes
-- what it shows and is cached for a year. Same in ../sqlite/0012_product_images.sql.
CREATE TABLE product_images (
    id            TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL REFERENCES products (id),
    content_type  TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    bytes         BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX product_images_product ON product_images (product_id);
-- The small size, for lists and the shop bag (image_url is the large one,
-- or a creator's own URL, which has no small size).
ALTER TABLE products ADD COLUMN image_thumb_url TEXT;

-- The hold returns the product's row, so it returns the new column too
-- (as 0008 left it otherwise).
DROP FUNCTION dropcast_hold(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT);
CREATE FUNCTION dropcast_hold(
    p_order TEXT, p_show TEXT, p_product TEXT, p_viewer TEXT,
    p_quantity BIGINT, p_key TEXT, p_now BIGINT, p_expires BIGINT,
    p_owner_node TEXT, p_owner_instance TEXT, p_fingerprint TEXT, p_email TEXT,
    OUT outcome TEXT,
    OUT owned BIGINT, OUT limit_max BIGINT,
    OUT amount_cents BIGINT,
    OUT id TEXT, OUT show_id TEXT, OUT sku TEXT, OUT title TEXT, OUT price_cents BIGINT,
    OUT currency TEXT, OUT image_url TEXT, OUT image_thumb_url TEXT, OUT max_per_buyer BIGINT, OUT stock_total BIGINT,
    OUT available BIGINT, OUT held BIGINT, OUT sold BIGINT, OUT version BIGINT,
    OUT fulfilment TEXT, OUT shipping_cents BIGINT, OUT archived_at_ms BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM orders o WHERE o.viewer_id = p_viewer AND o.idempotency_key = p_key) THEN
        outcome := 'duplicate';
        RETURN;
    END IF;
    SELECT p.max_per_buyer, p.price_cents * p_quantity, p.currency
      INTO limit_max, amount_cents, currency
      FROM products p WHERE p.id = p_product AND p.show_id = p_show;
    IF NOT FOUND THEN
        outcome := 'no_such_product';
        RETURN;
    END IF;
    IF limit_max IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(k)
           FROM (SELECT hashtextextended('dropcast_limit:' || p_product || ':' || who, 0) AS k
                   FROM unnest(ARRAY['v:' || p_viewer, 'c:' || p_fingerprint, 'e:' || p_email]) AS who
                  WHERE who IS NOT NULL
                  ORDER BY 1) AS keys;
        SELECT COALESCE(SUM(o.quantity), 0) INTO owned
          FROM orders o
         WHERE o.product_id = p_product
           AND o.stock_state IN ('held', 'sold')
           AND (o.viewer_id = p_viewer
                OR (p_fingerprint IS NOT NULL AND o.card_fingerprint = p_fingerprint)
                OR (p_email IS NOT NULL AND o.buyer_email = p_email));
        IF owned + p_quantity > limit_max THEN
            outcome := 'over_limit';
            RETURN;
        END IF;
    END IF;
    INSERT INTO orders (id, show_id, product_id, viewer_id, quantity, amount_cents, currency,
                        status, stock_state, idempotency_key, created_at_ms, updated_at_ms,
                        expires_at_ms, owner_node, owner_instance, card_fingerprint, buyer_email)
    VALUES (p_order, p_show, p_product, p_viewer, p_quantity, amount_cents, currency,
            'pending', 'held', p_key, p_now, p_now, p_expires, p_owner_node, p_owner_instance,
            p_fingerprint, p_email);
    UPDATE products p
       SET available = p.available - p_quantity, held = p.held + p_quantity,
           version = p.version + 1
     WHERE p.id = p_product AND p.show_id = p_show AND p.available >= p_quantity
    RETURNING p.id, p.show_id, p.sku, p.title, p.price_cents, p.currency, p.image_url, p.image_thumb_url,
              p.max_per_buyer, p.stock_total, p.available, p.held, p.sold, p.version,
              p.fulfilment, p.shipping_cents, p.archived_at_ms
         INTO id, show_id, sku, title, price_cents, currency, image_url, image_thumb_url,
              max_per_buyer, stock_total, available, held, sold, version,
              fulfilment, shipping_cents, archived_at_ms;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dropcast_hold:sold_out';
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    outcome := 'held';
END;
$$;
