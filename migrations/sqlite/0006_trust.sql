-- Checkout a shop can trust (issue 12). Keep in step with ../postgres/0007_trust.sql.

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
