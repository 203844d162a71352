-- Checkout: saved cards, orders, Stripe events, the show's timeline.
-- Identical in ../sqlite/0002_checkout.sql.

ALTER TABLE viewers ADD COLUMN payment_method_id TEXT;
ALTER TABLE shows ADD COLUMN viewers_peak BIGINT NOT NULL DEFAULT 0;

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    show_id           TEXT NOT NULL REFERENCES shows (id),
    product_id        TEXT NOT NULL REFERENCES products (id),
    viewer_id         TEXT NOT NULL REFERENCES viewers (id),
    quantity          BIGINT NOT NULL CHECK (quantity > 0),
    amount_cents      BIGINT NOT NULL CHECK (amount_cents > 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN
                          ('pending', 'requires_action', 'paid', 'failed', 'expired', 'refunded')),
    -- Where the order's units are: held for it, sold to it, or back in stock.
    -- Every stock transition is guarded by this column, so a webhook, the
    -- request and the expiry sweep racing each other move stock at most once.
    stock_state       TEXT NOT NULL CHECK (stock_state IN ('held', 'sold', 'released')),
    idempotency_key   TEXT NOT NULL,
    payment_intent_id TEXT,
    client_secret     TEXT,
    failure_code      TEXT,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    paid_at_ms        BIGINT,
    -- A hold not paid by then is cancelled at Stripe and its stock released.
    expires_at_ms     BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency ON orders (viewer_id, idempotency_key);
CREATE INDEX orders_buyer ON orders (product_id, viewer_id);
CREATE INDEX orders_held ON orders (stock_state, expires_at_ms);
CREATE INDEX orders_show ON orders (show_id, created_at_ms);
CREATE INDEX orders_payment_intent ON orders (payment_intent_id);

-- Stripe event ids already processed: each is applied once.
CREATE TABLE stripe_events (
    id             TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL
);

-- The show's commerce timeline, stamped with wall-clock time: pins, and
-- (later) countdowns, stock and sales. Stats read it.
CREATE TABLE show_events (
    id         TEXT PRIMARY KEY,
    show_id    TEXT NOT NULL REFERENCES shows (id),
    kind       TEXT NOT NULL,
    product_id TEXT,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX show_events_show ON show_events (show_id, at_ms);
