-- Orders a creator can ship (issue 13). Keep in step with ../postgres/0008_shipping.sql.

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
