-- tillpass agent store, migration 10: the store's offline-risk ledger, as central returns
-- it to every till of the store (the `ledger` delta stream). Never edit once landed: add a
-- new migration instead.

-- A spend at any till of the store, with central's outcome. References are masked by
-- central; this till never sees more.
CREATE TABLE store_ledger_spends (
    id          TEXT PRIMARY KEY,
    till        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    account     TEXT NOT NULL CHECK (account IN ('savings', 'gift_card')),
    holder      TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    short       INTEGER NOT NULL CHECK (short >= 0),
    currency    TEXT NOT NULL,
    source      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX store_ledger_spends_at ON store_ledger_spends (at);

-- A flag concerning the store (an overspent account, a token also used at another store).
CREATE TABLE store_ledger_flags (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    raised_at   INTEGER NOT NULL,
    resolved    INTEGER NOT NULL CHECK (resolved IN (0, 1)),
    updated_at  INTEGER NOT NULL
);
CREATE INDEX store_ledger_flags_raised ON store_ledger_flags (raised_at);
