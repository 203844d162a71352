-- Checkout a shop can trust (issue 12). Keep in step with ../sqlite/0006_trust.sql.

-- Nodes and their leases. A node (DROPCAST_NODE_ID) runs one process at a
-- time; each start is a new instance. Work in flight (held orders, outbox
-- jobs) names the node that owns it: a node's own restart settles its own
-- work at once, and work of a node whose heartbeat lapsed is taken over.
CREATE TABLE nodes (
    node_id         TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL,
    internal_url    TEXT NOT NULL,
    started_at_ms   BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL
);

-- Who is working on an order while it holds stock, and when it last asked
-- Stripe about it (GET of an order asks at most once every few seconds).
ALTER TABLE orders ADD COLUMN owner_node TEXT;
ALTER TABLE orders ADD COLUMN owner_instance TEXT;
ALTER TABLE orders ADD COLUMN checked_at_ms BIGINT;
-- The buyer as the per-buyer limit counts them: the session, the card's
-- fingerprint and the email (lower-cased), so a fresh session does not reset it.
ALTER TABLE orders ADD COLUMN card_fingerprint TEXT;
ALTER TABLE orders ADD COLUMN buyer_email TEXT;
CREATE INDEX orders_buyer_card ON orders (product_id, card_fingerprint);
CREATE INDEX orders_buyer_email ON orders (product_id, buyer_email);
CREATE INDEX orders_owner ON orders (stock_state, owner_node);

ALTER TABLE viewers ADD COLUMN card_fingerprint TEXT;

-- Sessions expire (sliding: each use moves expires_at_ms on) and can be
-- ended. NULL: never expires (creators, editors). token_id names a token
-- without revealing it, so an editor token can be revoked by id.
ALTER TABLE tokens ADD COLUMN token_id TEXT;
ALTER TABLE tokens ADD COLUMN expires_at_ms BIGINT;
-- Sessions made before expiry existed expire 90 days after they began.
UPDATE tokens SET expires_at_ms = created_at_ms + 7776000000 WHERE role = 'viewer';
UPDATE tokens SET token_id = 'tok_' || substr(token_hash, 1, 24) WHERE token_id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (token_id);

-- How long an order placed under this countdown holds its stock (a drop's
-- own hold lifetime); NULL: the server's DROPCAST_HOLD_SECONDS.
ALTER TABLE countdowns ADD COLUMN hold_seconds BIGINT;

-- Sites allowed to frame this creator's widget and pages, as a JSON array of
-- origins; NULL: any site.
ALTER TABLE creators ADD COLUMN embed_origins TEXT;

-- Stripe side effects that must happen (refunds), kept until Stripe
-- confirms them: retried with backoff across restarts, never only logged.
-- A job is claimed by a node's instance for a short lease while it runs.
CREATE TABLE stripe_outbox (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('refund')),
    order_id           TEXT NOT NULL REFERENCES orders (id),
    show_id            TEXT NOT NULL REFERENCES shows (id),
    payment_intent_id  TEXT NOT NULL,
    -- NULL: the whole payment.
    amount_cents       BIGINT CHECK (amount_cents IS NULL OR amount_cents > 0),
    -- Why: 'creator' (the studio's refund) or 'unfilled' (paid after the
    -- hold ended and sold out meanwhile).
    reason             TEXT NOT NULL,
    -- Sent to Stripe with every attempt, so an attempt whose answer was lost
    -- is not refunded twice.
    idempotency_key    TEXT NOT NULL UNIQUE,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    claimed_by         TEXT,
    claimed_until_ms   BIGINT,
    last_error         TEXT,
    -- Stripe's id for what was done (the refund's re_…).
    stripe_id          TEXT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL,
    done_at_ms         BIGINT
);
CREATE INDEX stripe_outbox_due ON stripe_outbox (status, next_attempt_at_ms);
CREATE INDEX stripe_outbox_show ON stripe_outbox (show_id, status);

-- The hold (0006) now also records who works on the order and the buyer's
-- card fingerprint and email, and the per-buyer limit counts every order of
-- the product by the same session, card or email. The buyer's lock becomes
-- one transaction-scoped advisory lock per identity of the buyer for this
-- product (taken in one sorted order, so two holds never wait on each
-- other in a circle): two sessions with one card queue for the same lock.
-- Everything else is as in 0006, whose comment explains the lock order
-- and the commit.
DROP FUNCTION dropcast_hold(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, BIGINT);
CREATE FUNCTION dropcast_hold(
    p_order TEXT, p_show TEXT, p_product TEXT, p_viewer TEXT,
    p_quantity BIGINT, p_key TEXT, p_now BIGINT, p_expires BIGINT,
    p_owner_node TEXT, p_owner_instance TEXT, p_fingerprint TEXT, p_email TEXT,
    OUT outcome TEXT,
    OUT owned BIGINT, OUT limit_max BIGINT,
    OUT amount_cents BIGINT,
    OUT id TEXT, OUT show_id TEXT, OUT sku TEXT, OUT title TEXT, OUT price_cents BIGINT,
    OUT currency TEXT, OUT image_url TEXT, OUT max_per_buyer BIGINT, OUT stock_total BIGINT,
    OUT available BIGINT, OUT held BIGINT, OUT sold BIGINT, OUT version BIGINT)
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
              p.max_per_buyer, p.stock_total, p.available, p.held, p.sold, p.version
         INTO id, show_id, sku, title, price_cents, currency, image_url,
              max_per_buyer, stock_total, available, held, sold, version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dropcast_hold:sold_out';
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    outcome := 'held';
END;
$$;
