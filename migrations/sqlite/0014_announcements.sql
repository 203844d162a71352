-- Announcements: who asked to be told (and how they agreed), what is told,
-- and each telling, as rows any node's worker claims. Same in
-- ../postgres/0015_announcements.sql.

-- A show's cover picture (its pages before it starts): the 640-wide size's
-- URL, its bytes kept here (as product pictures are) so every node serves it.
ALTER TABLE shows ADD COLUMN cover_url TEXT;
CREATE TABLE show_images (
    id            TEXT PRIMARY KEY,
    show_id       TEXT NOT NULL REFERENCES shows (id),
    content_type  TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    bytes         BLOB NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX show_images_show ON show_images (show_id);

-- How many waiting buyers a restock wakes per unit of new stock: 10 units
-- at 3 wake 30, not the whole waitlist.
ALTER TABLE shows ADD COLUMN restock_wake_factor BIGINT NOT NULL DEFAULT 3;

-- One buyer's "remind me" (product_id NULL: the show's notices) or
-- "notify me when back" (a product's waitlist), on one channel.
CREATE TABLE subscriptions (
    id                  TEXT PRIMARY KEY,
    show_id             TEXT NOT NULL REFERENCES shows (id),
    product_id          TEXT REFERENCES products (id),
    channel             TEXT NOT NULL CHECK (channel IN ('email', 'push')),
    email               TEXT,
    endpoint            TEXT,
    p256dh              TEXT,
    auth                TEXT,
    -- pending: an email not confirmed yet; woken: a waitlist entry told
    -- of a restock (once); gone: the push service forgot the browser.
    status              TEXT NOT NULL CHECK (status IN ('pending', 'active', 'woken', 'unsubscribed', 'gone')),
    -- Consent: when it was given and where (page and button).
    consent_at_ms       BIGINT NOT NULL,
    consent_source      TEXT NOT NULL,
    -- The double opt-in: when the emailed link (signed, not stored) was followed.
    confirmed_at_ms     BIGINT,
    -- The one-click unsubscribe link's token (every message carries it).
    unsubscribe_token   TEXT NOT NULL UNIQUE,
    unsubscribed_at_ms  BIGINT,
    woken_at_ms         BIGINT,
    -- The same address (or browser) asking again for the same thing is the
    -- same subscription.
    dedupe_key          TEXT NOT NULL UNIQUE,
    created_at_ms       BIGINT NOT NULL
);
CREATE INDEX subscriptions_show ON subscriptions (show_id, product_id, status, created_at_ms);

-- What is told: fanned out (once, by whichever node claims it) into one
-- delivery per subscriber when it is due.
CREATE TABLE notices (
    id                  TEXT PRIMARY KEY,
    show_id             TEXT NOT NULL REFERENCES shows (id),
    kind                TEXT NOT NULL CHECK (kind IN ('live', 'drop_soon', 'restock', 'manual')),
    product_id          TEXT,
    text                TEXT NOT NULL,
    -- What it is about (a stream start, a countdown, a restock): the same
    -- event never makes two notices.
    dedupe_key          TEXT NOT NULL UNIQUE,
    -- pending until fanned out (next_attempt_at_ms is when it is due);
    -- cancelled if its reason went away first (a countdown stopped).
    status              TEXT NOT NULL CHECK (status IN ('pending', 'fanned_out', 'cancelled')),
    next_attempt_at_ms  BIGINT NOT NULL,
    -- A restock wakes at most this many of the waitlist.
    wake_limit          BIGINT,
    recipients          BIGINT,
    attempts            BIGINT NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    claimed_until_ms    BIGINT,
    fanned_out_at_ms    BIGINT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX notices_due ON notices (status, next_attempt_at_ms);
CREATE INDEX notices_show ON notices (show_id, created_at_ms);

-- One message to one subscriber: a notice, or (notice_id NULL) the
-- double opt-in letter. Its id is the secret in its tracking link.
CREATE TABLE notice_deliveries (
    id                  TEXT PRIMARY KEY,
    notice_id           TEXT REFERENCES notices (id),
    subscription_id     TEXT NOT NULL REFERENCES subscriptions (id),
    channel             TEXT NOT NULL CHECK (channel IN ('email', 'push')),
    -- pending (due at next_attempt_at_ms), sent (the push service or SMTP
    -- server took it), failed (refused for good, or given up), dropped
    -- (unsubscribed or gone before its turn).
    status              TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dropped')),
    next_attempt_at_ms  BIGINT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    claimed_until_ms    BIGINT,
    last_error          TEXT,
    -- notice:subscription — never two of the same message to one person.
    dedupe_key          TEXT NOT NULL UNIQUE,
    first_attempt_at_ms BIGINT,
    sent_at_ms          BIGINT,
    clicked_at_ms       BIGINT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX notice_deliveries_due ON notice_deliveries (status, next_attempt_at_ms);
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice_id, status);

-- Orders placed within 10 minutes of following a notice's link.
CREATE TABLE notice_orders (
    order_id    TEXT PRIMARY KEY REFERENCES orders (id),
    delivery_id TEXT NOT NULL REFERENCES notice_deliveries (id)
);
CREATE INDEX notice_orders_delivery ON notice_orders (delivery_id);
