-- tillpass agent store, migration 2: closed sales, returns, promotion uses, idempotency.
-- Never edit once landed: add a new migration instead.

-- The answer given to a mutating POS call, by its Idempotency-Key: the same key with the
-- same body gets this answer again (also after a restart); another body gets 422.
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    route       TEXT NOT NULL,
    body_hash   BLOB NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX idempotency_created_at ON idempotency(created_at);

-- Closed sales, as committed: the receipt, returns and the dashboard read them.
-- `origin` is 'local' for sales closed at this till, 'store' for a sale of another till
-- of the store received from central (so it can be returned here).
CREATE TABLE sales (
    sale_id             TEXT PRIMARY KEY,
    till_id             TEXT NOT NULL,
    origin              TEXT NOT NULL CHECK (origin IN ('local', 'store')),
    closed_at           INTEGER NOT NULL,
    customer_ref        TEXT,
    currency            TEXT NOT NULL,
    gross               INTEGER NOT NULL,
    discount            INTEGER NOT NULL,
    net                 INTEGER NOT NULL,
    savings_earned      INTEGER NOT NULL,
    savings_redeemed    INTEGER NOT NULL,
    gift_card_tendered  INTEGER NOT NULL,
    line_count          INTEGER NOT NULL,
    -- The engine's ClosedSale (evaluation + tenders) as JSON.
    sale                TEXT NOT NULL,
    -- The receipt summary answered to the POS, as JSON.
    receipt             TEXT NOT NULL
) STRICT;
CREATE INDEX sales_closed_at ON sales(closed_at);
CREATE INDEX sales_customer ON sales(customer_ref, closed_at);

-- Every effect of a closed sale, flat, for "top promotions".
CREATE TABLE sale_effects (
    sale_id       TEXT NOT NULL REFERENCES sales(sale_id) ON DELETE CASCADE,
    promotion_id  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    amount        INTEGER NOT NULL
) STRICT;
CREATE INDEX sale_effects_sale ON sale_effects(sale_id);

-- Returns against closed sales.
CREATE TABLE sale_returns (
    return_id         TEXT PRIMARY KEY,
    sale_id           TEXT NOT NULL REFERENCES sales(sale_id),
    returned_at       INTEGER NOT NULL,
    refund            INTEGER NOT NULL,
    savings_reversed  INTEGER NOT NULL,
    -- The engine's ReturnOutcome as JSON.
    outcome           TEXT NOT NULL
) STRICT;
CREATE INDEX sale_returns_sale ON sale_returns(sale_id);
CREATE INDEX sale_returns_at ON sale_returns(returned_at);

-- How often each customer used each promotion (caps on uses per customer).
CREATE TABLE promotion_uses (
    customer_ref  TEXT NOT NULL,
    promotion_id  TEXT NOT NULL,
    uses          INTEGER NOT NULL,
    PRIMARY KEY (customer_ref, promotion_id)
) STRICT;
