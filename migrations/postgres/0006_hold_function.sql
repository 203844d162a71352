-- The hold as one call, PostgreSQL only (store::orders::hold_postgres).
--
-- Every buyer of a drop queues for the product's row. Run from the server as
-- a transaction of several statements, each lock was held across the network
-- round trips of the statements after it and of the COMMIT. Called in
-- autocommit, this function holds the product's row for its own last two
-- statements and the commit only, all inside the backend.
--
-- A refusal leaves nothing written: a duplicate, an unknown product or a
-- buyer over the limit is found before the first write; sold out is found
-- by the product's update, last, and then the function raises
-- 'dropcast_hold:sold_out' (SQLSTATE P0001), undoing the order's insert.
-- Lock order, as in every stock move (store::orders): the buyer's row (only
-- for a product with a per-buyer limit; FOR NO KEY UPDATE, which the new
-- order's foreign-key check on the buyer does not wait for), then the new
-- order's row, then the product's row. The product last: a double submit's
-- insert waits on the unique index for the first order's settlement, which
-- waits for the product, so it must not hold the product while it waits.
-- A concurrent order under the same idempotency key fails on the unique
-- index, as on SQLite.
-- Each statement sees what committed before it (a VOLATILE function under
-- READ COMMITTED), so the limit counts every order committed before the
-- buyer's lock was granted.
--
-- A successful hold commits without waiting for its WAL flush, since the
-- product's row stays locked until the commit returns: the order's next
-- write (its PaymentIntent, store::orders::set_intent) commits synchronously,
-- which flushes this hold with it, before any card is charged.
CREATE FUNCTION dropcast_hold(
    p_order TEXT, p_show TEXT, p_product TEXT, p_viewer TEXT,
    p_quantity BIGINT, p_key TEXT, p_now BIGINT, p_expires BIGINT,
    -- 'held', 'duplicate', 'no_such_product' or 'over_limit' (sold out raises).
    OUT outcome TEXT,
    -- over_limit: what the buyer owns already (held and sold) and the limit.
    OUT owned BIGINT, OUT limit_max BIGINT,
    -- held: the order's amount, then the product as updated (ProductRow).
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
        PERFORM 1 FROM viewers v WHERE v.id = p_viewer FOR NO KEY UPDATE;
        SELECT COALESCE(SUM(o.quantity), 0) INTO owned
          FROM orders o
         WHERE o.product_id = p_product AND o.viewer_id = p_viewer
           AND o.stock_state IN ('held', 'sold');
        IF owned + p_quantity > limit_max THEN
            outcome := 'over_limit';
            RETURN;
        END IF;
    END IF;
    INSERT INTO orders (id, show_id, product_id, viewer_id, quantity, amount_cents, currency,
                        status, stock_state, idempotency_key, created_at_ms, updated_at_ms,
                        expires_at_ms)
    VALUES (p_order, p_show, p_product, p_viewer, p_quantity, amount_cents, currency,
            'pending', 'held', p_key, p_now, p_now, p_expires);
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
    -- For this transaction only (is_local): read at its commit.
    PERFORM set_config('synchronous_commit', 'off', true);
    outcome := 'held';
END;
$$;
