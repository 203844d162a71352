-- Orders a creator can ship (issue 13). Keep in step with ../sqlite/0007_shipping.sql.

-- What a product is: shipped (needs an address, may carry a shipping price)
-- or digital (never asks for one). Archived products leave the show's list
-- and cannot be bought; their orders stay.
ALTER TABLE products ADD COLUMN fulfilment TEXT NOT NULL DEFAULT 'shipping'
    CHECK (fulfilment IN ('shipping', 'digital'));
ALTER TABLE products ADD COLUMN shipping_cents BIGINT NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0);
ALTER TABLE products ADD COLUMN archived_at_ms BIGINT;

-- A flat shipping price per buyer's parcel, instead of the products' own;
-- when the show is planned; when it first went live (a show that never did
-- can be deleted).
ALTER TABLE shows ADD COLUMN shipping_flat_cents BIGINT CHECK (shipping_flat_cents IS NULL OR shipping_flat_cents >= 0);
ALTER TABLE shows ADD COLUMN scheduled_at_ms BIGINT;
ALTER TABLE shows ADD COLUMN went_live_at_ms BIGINT;
UPDATE shows SET went_live_at_ms = created_at_ms WHERE live = 1;
UPDATE shows SET went_live_at_ms = created_at_ms
    WHERE went_live_at_ms IS NULL AND (
        EXISTS (SELECT 1 FROM show_events e WHERE e.show_id = shows.id AND e.kind = 'live')
        OR EXISTS (SELECT 1 FROM segments g WHERE g.show_id = shows.id));

-- Where the buyer's parcels go (JSON of the validated address).
ALTER TABLE viewers ADD COLUMN shipping_json TEXT;

-- An order's amount is its items plus the shipping it carries (the first
-- order of a parcel carries the parcel's shipping); the address as ordered;
-- its parcel; what was refunded of it so far.
ALTER TABLE orders ADD COLUMN shipping_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_json TEXT;
ALTER TABLE orders ADD COLUMN shipment_id TEXT;
ALTER TABLE orders ADD COLUMN refunded_cents BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_shipment ON orders (shipment_id);

-- One buyer's paid orders of one show, to one address: one parcel. While it
-- is unshipped new orders join it; once shipped, the next order opens another.
CREATE TABLE shipments (
    id            TEXT PRIMARY KEY,
    show_id       TEXT NOT NULL REFERENCES shows (id),
    -- Who and where: the lower-cased email and the address, hashed.
    buyer_key     TEXT NOT NULL,
    viewer_id     TEXT NOT NULL,
    email         TEXT NOT NULL,
    shipping_json TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('unshipped', 'shipped')),
    carrier       TEXT,
    tracking      TEXT,
    shipped_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX shipments_open ON shipments (show_id, buyer_key) WHERE status = 'unshipped';
CREATE INDEX shipments_show ON shipments (show_id, created_at_ms);

-- Mail to send: a row per letter, claimed by one worker at a time and
-- retried until the SMTP server takes it. What it says is drawn from the
-- rows it names when it is sent.
CREATE TABLE mail_jobs (
    id                 TEXT PRIMARY KEY,
    -- 'order_paid' (subject: order), 'shipped' (shipment), 'refunded' (outbox job).
    kind               TEXT NOT NULL,
    subject_id         TEXT NOT NULL,
    -- One letter per event, however often the event is recorded.
    dedupe_key         TEXT NOT NULL UNIQUE,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unsent')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    claimed_by         TEXT,
    claimed_until_ms   BIGINT,
    last_error         TEXT,
    to_email           TEXT,
    sent_at_ms         BIGINT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);
CREATE INDEX mail_jobs_due ON mail_jobs (status, next_attempt_at_ms);

-- A creator's address, the Reply-To of the mail their buyers get.
ALTER TABLE creators ADD COLUMN email TEXT;

-- Secrets every node shares: the key that signs buyers' order links.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The hold (0007) returns the product's new columns too (it answers with
-- the product row). Otherwise as in 0007.
DROP FUNCTION dropcast_hold(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT);
CREATE FUNCTION dropcast_hold(
    p_order TEXT, p_show TEXT, p_product TEXT, p_viewer TEXT,
    p_quantity BIGINT, p_key TEXT, p_now BIGINT, p_expires BIGINT,
    p_owner_node TEXT, p_owner_instance TEXT, p_fingerprint TEXT, p_email TEXT,
    OUT outcome TEXT,
    OUT owned BIGINT, OUT limit_max BIGINT,
    OUT amount_cents BIGINT,
    OUT id TEXT, OUT show_id TEXT, OUT sku TEXT, OUT title TEXT, OUT price_cents BIGINT,
    OUT currency TEXT, OUT image_url TEXT, OUT max_per_buyer BIGINT, OUT stock_total BIGINT,
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
    RETURNING p.id, p.show_id, p.sku, p.title, p.price_cents, p.currency, p.image_url,
              p.max_per_buyer, p.stock_total, p.available, p.held, p.sold, p.version,
              p.fulfilment, p.shipping_cents, p.archived_at_ms
         INTO id, show_id, sku, title, price_cents, currency, image_url,
              max_per_buyer, stock_total, available, held, sold, version,
              fulfilment, shipping_cents, archived_at_ms;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dropcast_hold:sold_out';
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    outcome := 'held';
END;
$$;
