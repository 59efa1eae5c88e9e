-- tillpass agent store, migration 10: balances the till relied on without central's deltas.
-- Never edit once landed: add a new migration instead.

-- A customer or a gift card this till does not hold from central's deltas, whose balance
-- came with a verified token (`snapshot`: a customer pass's savings, a gift-card token's
-- balance, signed by central at issue) or from central's answer to a live lookup (`live`).
-- One row per subject: the newest claim read here. The savings account or gift card row
-- made from it keeps `unsynced_spent` across claims, so a second spend sees the first.
-- Central's own balance, when its delta arrives, replaces the claim (the row is deleted).
CREATE TABLE balance_claims (
    kind      TEXT NOT NULL CHECK (kind IN ('customer', 'gift_card')),
    subject   TEXT NOT NULL,
    source    TEXT NOT NULL CHECK (source IN ('snapshot', 'live')),
    token_id  TEXT,
    amount    INTEGER NOT NULL CHECK (amount >= 0),
    currency  TEXT NOT NULL,
    as_of     INTEGER NOT NULL,
    PRIMARY KEY (kind, subject)
) STRICT, WITHOUT ROWID;
