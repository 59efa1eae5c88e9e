-- tillpass agent store, migration 3: store manager accounts for the dashboard.
-- Never edit once landed: add a new migration instead.

-- Local store manager accounts (`tillpass manager add`). The password is an Argon2id PHC
-- string; `login_key` is the name as typed at login (trimmed, lower case), unique.
CREATE TABLE managers (
    manager_id     INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    login_key      TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    lang           TEXT NOT NULL CHECK (lang IN ('es', 'en')),
    created_at     INTEGER NOT NULL,
    last_login_at  INTEGER
) STRICT;

-- Signed-in dashboard sessions. The browser holds a random token in an HttpOnly cookie;
-- only its SHA-256 is kept here. `csrf` is the session's anti-forgery token, echoed by
-- every form.
CREATE TABLE manager_sessions (
    token_hash  BLOB PRIMARY KEY,
    manager_id  INTEGER NOT NULL REFERENCES managers(manager_id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX manager_sessions_manager ON manager_sessions(manager_id);
CREATE INDEX manager_sessions_expires ON manager_sessions(expires_at);

-- Failed sign-ins by login name (known or not, so that a lockout does not tell which
-- names exist). Durable: a restart does not lift a lockout.
CREATE TABLE manager_login_failures (
    login_key        TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL,
    locked_until     INTEGER
) STRICT;

-- The dashboard's read model: closed sales and promotion effects summed per quarter of an
-- hour (UTC `closed_at / 900`). Every time zone's offset is a multiple of 15 minutes, so a
-- local day or hour is a whole number of buckets and "Today" reads a few dozen rows instead
-- of every sale of the day. Kept by triggers in the transaction that writes the sale.
-- Sales and their effects are immutable once written; deleting a sale (retention)
-- subtracts it and its effects.
CREATE TABLE dashboard_sales_q (
    bucket              INTEGER NOT NULL,
    origin              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    sales               INTEGER NOT NULL,
    loyalty_sales       INTEGER NOT NULL,
    gross               INTEGER NOT NULL,
    discount            INTEGER NOT NULL,
    net                 INTEGER NOT NULL,
    loyalty_net         INTEGER NOT NULL,
    savings_earned      INTEGER NOT NULL,
    savings_redeemed    INTEGER NOT NULL,
    gift_card_tendered  INTEGER NOT NULL,
    PRIMARY KEY (bucket, origin, currency)
) STRICT, WITHOUT ROWID;

-- `uses` counts sales (a promotion with two rules in one sale is one use).
CREATE TABLE dashboard_effects_q (
    bucket        INTEGER NOT NULL,
    origin        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    promotion_id  TEXT NOT NULL,
    uses          INTEGER NOT NULL,
    amount        INTEGER NOT NULL,
    PRIMARY KEY (bucket, origin, currency, promotion_id)
) STRICT, WITHOUT ROWID;

INSERT INTO dashboard_sales_q
SELECT closed_at / 900, origin, currency, count(*), count(customer_ref), sum(gross),
       sum(discount), sum(net), sum(CASE WHEN customer_ref IS NULL THEN 0 ELSE net END),
       sum(savings_earned), sum(savings_redeemed), sum(gift_card_tendered)
FROM sales GROUP BY 1, 2, 3;

INSERT INTO dashboard_effects_q
SELECT s.closed_at / 900, s.origin, s.currency, e.promotion_id, count(DISTINCT e.sale_id),
       sum(e.amount)
FROM sale_effects e JOIN sales s ON s.sale_id = e.sale_id
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER dashboard_sales_added AFTER INSERT ON sales BEGIN
    INSERT INTO dashboard_sales_q VALUES (
        NEW.closed_at / 900, NEW.origin, NEW.currency, 1, NEW.customer_ref IS NOT NULL,
        NEW.gross, NEW.discount, NEW.net,
        CASE WHEN NEW.customer_ref IS NULL THEN 0 ELSE NEW.net END,
        NEW.savings_earned, NEW.savings_redeemed, NEW.gift_card_tendered)
    ON CONFLICT (bucket, origin, currency) DO UPDATE SET
        sales = sales + excluded.sales,
        loyalty_sales = loyalty_sales + excluded.loyalty_sales,
        gross = gross + excluded.gross,
        discount = discount + excluded.discount,
        net = net + excluded.net,
        loyalty_net = loyalty_net + excluded.loyalty_net,
        savings_earned = savings_earned + excluded.savings_earned,
        savings_redeemed = savings_redeemed + excluded.savings_redeemed,
        gift_card_tendered = gift_card_tendered + excluded.gift_card_tendered;
END;

CREATE TRIGGER dashboard_sales_removed BEFORE DELETE ON sales BEGIN
    UPDATE dashboard_sales_q SET
        sales = sales - 1,
        loyalty_sales = loyalty_sales - (OLD.customer_ref IS NOT NULL),
        gross = gross - OLD.gross,
        discount = discount - OLD.discount,
        net = net - OLD.net,
        loyalty_net = loyalty_net - CASE WHEN OLD.customer_ref IS NULL THEN 0 ELSE OLD.net END,
        savings_earned = savings_earned - OLD.savings_earned,
        savings_redeemed = savings_redeemed - OLD.savings_redeemed,
        gift_card_tendered = gift_card_tendered - OLD.gift_card_tendered
    WHERE bucket = OLD.closed_at / 900 AND origin = OLD.origin AND currency = OLD.currency;
    UPDATE dashboard_effects_q SET
        uses = uses - 1,
        amount = amount - (SELECT coalesce(sum(e.amount), 0) FROM sale_effects e
                           WHERE e.sale_id = OLD.sale_id
                             AND e.promotion_id = dashboard_effects_q.promotion_id)
    WHERE bucket = OLD.closed_at / 900 AND origin = OLD.origin AND currency = OLD.currency
      AND promotion_id IN (SELECT promotion_id FROM sale_effects WHERE sale_id = OLD.sale_id);
END;

CREATE TRIGGER dashboard_effect_added AFTER INSERT ON sale_effects BEGIN
    INSERT INTO dashboard_effects_q
    SELECT s.closed_at / 900, s.origin, s.currency, NEW.promotion_id,
           NOT EXISTS (SELECT 1 FROM sale_effects o WHERE o.sale_id = NEW.sale_id
                       AND o.promotion_id = NEW.promotion_id AND o.rowid <> NEW.rowid),
           NEW.amount
    FROM sales s WHERE s.sale_id = NEW.sale_id
    ON CONFLICT (bucket, origin, currency, promotion_id) DO UPDATE SET
        uses = uses + excluded.uses,
        amount = amount + excluded.amount;
END;

-- The Transactions page lists a day's sales newest first, fifty at a time, and pages by
-- (closed_at, sale_id): this index gives them in that order without sorting the day.
CREATE INDEX sales_dashboard_day ON sales(origin, closed_at, sale_id);
