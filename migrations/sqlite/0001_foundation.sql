-- Dropcast foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql:
-- same tables, columns and constraints; only types differ where SQLite needs it.
-- Times are Unix epoch milliseconds; money is integer minor units; ids are opaque text.

CREATE TABLE creators (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Bearer tokens, stored as SHA-256 hex of the token: the database alone lets nobody in.
-- subject_id is the creator id, the show id (editor) or the viewer id.
CREATE TABLE tokens (
    token_hash    TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('creator', 'editor', 'viewer')),
    subject_id    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX tokens_subject ON tokens (subject_id);

CREATE TABLE shows (
    id                TEXT PRIMARY KEY,
    creator_id        TEXT NOT NULL REFERENCES creators (id),
    title             TEXT NOT NULL,
    stream_key        TEXT NOT NULL UNIQUE,
    pinned_product_id TEXT,
    live              BIGINT NOT NULL DEFAULT 0 CHECK (live IN (0, 1)),
    -- Bumped by every change to the row, so live events can be ordered.
    version           BIGINT NOT NULL DEFAULT 0,
    created_at_ms     BIGINT NOT NULL
);
CREATE INDEX shows_creator ON shows (creator_id);

CREATE TABLE products (
    id            TEXT PRIMARY KEY,
    show_id       TEXT NOT NULL REFERENCES shows (id),
    sku           TEXT NOT NULL,
    title         TEXT NOT NULL,
    price_cents   BIGINT NOT NULL CHECK (price_cents > 0),
    currency      TEXT NOT NULL,
    image_url     TEXT,
    max_per_buyer BIGINT CHECK (max_per_buyer IS NULL OR max_per_buyer > 0),
    -- Stock ever added (net of removals); the invariant below ties the columns together.
    stock_total   BIGINT NOT NULL CHECK (stock_total >= 0),
    available     BIGINT NOT NULL CHECK (available >= 0),
    held          BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold          BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    -- Bumped by every change to the row, so live events can be ordered.
    version       BIGINT NOT NULL DEFAULT 0,
    position      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (show_id, sku),
    CHECK (available + held + sold = stock_total)
);
CREATE INDEX products_show ON products (show_id, position);

CREATE TABLE countdowns (
    id            TEXT PRIMARY KEY,
    show_id       TEXT NOT NULL REFERENCES shows (id),
    kind          TEXT NOT NULL CHECK (kind IN ('drop_opens', 'sale_ends')),
    product_id    TEXT REFERENCES products (id),
    label         TEXT,
    ends_at_ms    BIGINT NOT NULL,
    position      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX countdowns_show ON countdowns (show_id, position);

-- Anonymous buyer sessions; the payment fields are filled when a card is saved.
CREATE TABLE viewers (
    id                 TEXT PRIMARY KEY,
    email              TEXT,
    stripe_customer_id TEXT,
    card_brand         TEXT,
    card_last4         TEXT,
    created_at_ms      BIGINT NOT NULL
);
