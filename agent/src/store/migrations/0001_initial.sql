-- tillpass agent store, migration 1. Never edit once landed: add a new migration instead.

-- Customers this till knows: from central's deltas, or created here (earn-only) for a valid
-- pass of a customer the till had never seen.
CREATE TABLE customers (
    customer_ref      TEXT PRIMARY KEY,
    first_name        TEXT,
    tier              TEXT,
    lang              TEXT NOT NULL DEFAULT 'es',
    consent_receipts  INTEGER NOT NULL DEFAULT 0,
    consent_marketing INTEGER NOT NULL DEFAULT 0,
    earn_only         INTEGER NOT NULL DEFAULT 0,
    created_locally   INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Savings: the balance central last confirmed, what was earned here and is pending
-- (return window), and what was spent here while unsynced (against the offline cap).
CREATE TABLE savings_accounts (
    customer_ref    TEXT PRIMARY KEY REFERENCES customers(customer_ref) ON DELETE CASCADE,
    currency        TEXT NOT NULL,
    synced_balance  INTEGER NOT NULL DEFAULT 0,
    pending         INTEGER NOT NULL DEFAULT 0,
    unsynced_spent  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE gift_cards (
    card_ref        TEXT PRIMARY KEY,
    owner_ref       TEXT,
    currency        TEXT NOT NULL,
    synced_balance  INTEGER NOT NULL,
    unsynced_spent  INTEGER NOT NULL DEFAULT 0,
    expires_at      INTEGER,
    blocked         INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE gift_card_holds (
    hold_id     TEXT PRIMARY KEY,
    card_ref    TEXT NOT NULL REFERENCES gift_cards(card_ref),
    session_id  TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    expires_at  INTEGER NOT NULL
) STRICT;

-- Personal promotions assigned to a customer, switched on or off by them in the chat.
CREATE TABLE personal_promotions (
    customer_ref  TEXT NOT NULL REFERENCES customers(customer_ref) ON DELETE CASCADE,
    promotion_id  TEXT NOT NULL,
    active        INTEGER NOT NULL,
    PRIMARY KEY (customer_ref, promotion_id)
) STRICT;

-- The trust list in force: its envelope as received, with the root key that pins it.
CREATE TABLE trust_list (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    root_public_key  BLOB NOT NULL,
    envelope         BLOB NOT NULL,
    sequence         INTEGER NOT NULL,
    issued_at        INTEGER NOT NULL,
    received_at      INTEGER NOT NULL
) STRICT;

-- Revocations: a key id, a token id, or a subject's tokens issued before a time.
CREATE TABLE revocations (
    what            TEXT NOT NULL CHECK (what IN ('key', 'token', 'subject')),
    token_kind      TEXT NOT NULL DEFAULT '',
    value           BLOB NOT NULL,
    revoked_before  INTEGER,
    PRIMARY KEY (what, token_kind, value)
) STRICT;

-- Every accepted token: how often it was used here (replay policy).
CREATE TABLE token_uses (
    token_id       BLOB PRIMARY KEY,
    kind           TEXT NOT NULL,
    subject        BLOB NOT NULL,
    uses           INTEGER NOT NULL,
    first_used_at  INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;

-- Every scan, accepted or refused, with the reason.
CREATE TABLE scan_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    source          TEXT NOT NULL,
    result          TEXT NOT NULL CHECK (result IN ('accepted', 'refused')),
    code            TEXT,
    detail          TEXT,
    token_kind      TEXT,
    subject_masked  TEXT,
    latency_us      INTEGER NOT NULL
) STRICT;
CREATE INDEX scan_log_at ON scan_log(at);

-- POS sessions: the cart and its evaluation, versioned for optimistic concurrency.
CREATE TABLE pos_sessions (
    session_id    TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closed', 'cancelled')),
    customer_ref  TEXT,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The journal / outbox: one row per event for central, written in the same transaction
-- as the change it records; deleted only after central acknowledged it.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;

-- Promotion catalogs received, verified envelopes kept as they came.
CREATE TABLE catalogs (
    sequence      INTEGER PRIMARY KEY,
    envelope      BLOB NOT NULL,
    issued_at     INTEGER NOT NULL,
    activates_at  INTEGER,
    received_at   INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('scheduled', 'active', 'retired'))
) STRICT;

-- Small facts of the till: the journal sequence, the clock's high-water mark, cursors.
CREATE TABLE till_state (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) STRICT;
