//! The SQLite schema, as numbered migrations. A landed migration is never edited: a change
//! is a new migration appended to [`MIGRATIONS`]. `PRAGMA user_version` records how many
//! ran; they are applied by `tillpass-migrate`, the mechanism of every tillpass database
//! (PostgreSQL's, [`crate::storage::postgres::migrations`], and the till's).

/// Every migration, in order. Index `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "initial",
        sql: V1,
    },
    Migration {
        name: "change_log_index",
        sql: V2,
    },
    Migration {
        name: "store_sales",
        sql: V3,
    },
    Migration {
        name: "pending_savings",
        sql: V4,
    },
    Migration {
        name: "whatsapp",
        sql: V5,
    },
    Migration {
        name: "account_moves",
        sql: V6,
    },
    Migration {
        name: "whatsapp_leases",
        sql: V7,
    },
    Migration {
        name: "retention",
        sql: V8,
    },
    Migration {
        name: "store_scopes",
        sql: V9,
    },
    Migration {
        name: "scope_lapses",
        sql: V10,
    },
    Migration {
        name: "change_stores",
        sql: V11,
    },
];

use tillpass_migrate::Migration;

/// Version 1: keys, trust lists, customers, savings, gift cards, personal promotions,
/// revocations, the change log, enrolment, tills, nonces, journal, debts, flags, token
/// uses, holds, receipts, catalogs, issued tokens and settings.
const V1: &str = r#"
CREATE TABLE keys (
    kid         TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('root', 'token', 'catalog', 'sync')),
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER,
    not_after   INTEGER,
    revoked_at  INTEGER
);

CREATE TABLE envelopes (
    purpose     TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    max_age     INTEGER NOT NULL,
    envelope    BLOB NOT NULL,
    etag        TEXT NOT NULL,
    source      INTEGER,
    PRIMARY KEY (purpose, sequence)
);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE TABLE customers (
    ref                 TEXT PRIMARY KEY,
    first_name          TEXT NOT NULL,
    tier                TEXT,
    lang                TEXT NOT NULL,
    consent_receipts    INTEGER NOT NULL,
    consent_marketing   INTEGER NOT NULL,
    earn_only           INTEGER NOT NULL DEFAULT 0,
    created_by          TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE erased_customers (
    ref         TEXT PRIMARY KEY,
    erased_at   INTEGER NOT NULL
);

CREATE TABLE savings_accounts (
    customer    TEXT PRIMARY KEY REFERENCES customers (ref) ON DELETE CASCADE,
    currency    TEXT NOT NULL,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    debt        INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
    updated_at  INTEGER NOT NULL
);

CREATE TABLE personal_promotions (
    id              TEXT PRIMARY KEY,
    customer        TEXT NOT NULL REFERENCES customers (ref) ON DELETE CASCADE,
    promotion_id    TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    valid_from      INTEGER,
    valid_until     INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX personal_promotions_customer ON personal_promotions (customer);

CREATE TABLE gift_cards (
    ref         TEXT PRIMARY KEY,
    currency    TEXT NOT NULL,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    debt        INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
    status      TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    owner   TEXT,
    at      INTEGER NOT NULL
);
CREATE INDEX changes_kind_seq ON changes (kind, seq);

CREATE TABLE revocations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    what        TEXT NOT NULL CHECK (what IN ('key', 'token', 'subject')),
    value       BLOB NOT NULL,
    token_kind  TEXT,
    before      INTEGER,
    revoked_at  INTEGER NOT NULL
);

CREATE TABLE enrolment_codes (
    code_sha256 TEXT PRIMARY KEY,
    store       TEXT NOT NULL,
    till        TEXT NOT NULL,
    region      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE tills (
    id              TEXT PRIMARY KEY,
    store           TEXT NOT NULL,
    region          TEXT NOT NULL,
    public_key      BLOB NOT NULL CHECK (length(public_key) = 32),
    agent_version   TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    enrolled_at     INTEGER NOT NULL,
    last_seen_at    INTEGER,
    revoked_at      INTEGER
);

CREATE TABLE nonces (
    till            TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    forget_after    INTEGER NOT NULL,
    PRIMARY KEY (till, nonce)
);
CREATE INDEX nonces_forget ON nonces (forget_after);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    till        TEXT NOT NULL,
    store       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_till_seq ON events (till, seq);

CREATE TABLE debts (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id),
    account     TEXT NOT NULL CHECK (account IN ('savings', 'gift_card')),
    holder      TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE flags (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES events (id),
    subject     TEXT,
    detail      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE token_uses (
    token_id    TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES events (id),
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    store       TEXT NOT NULL,
    till        TEXT NOT NULL,
    used_at     INTEGER NOT NULL
);
CREATE INDEX token_uses_token ON token_uses (token_id);

CREATE TABLE gift_card_holds (
    card        TEXT NOT NULL,
    hold_id     TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    released_at INTEGER,
    event_id    TEXT NOT NULL REFERENCES events (id),
    PRIMARY KEY (card, hold_id)
);

CREATE TABLE receipts (
    till        TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    customer    TEXT NOT NULL REFERENCES customers (ref) ON DELETE CASCADE,
    event_id    TEXT NOT NULL REFERENCES events (id),
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (till, sale_id)
);
CREATE INDEX receipts_customer ON receipts (customer);

CREATE TABLE catalogs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    source_sha256   TEXT NOT NULL,
    body_cbor       BLOB NOT NULL,
    promotions      INTEGER NOT NULL,
    published_at    INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL
);

CREATE TABLE issued_tokens (
    token_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    kid         TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX issued_tokens_subject ON issued_tokens (subject);

CREATE TABLE vouchers (
    code            TEXT PRIMARY KEY,
    promotion_id    TEXT,
    created_at      INTEGER NOT NULL
);
"#;

/// Version 2: a delta page finds each changed key's latest change by walking the change
/// log in order and probing `(kind, key, seq)`, instead of grouping every change after the
/// cursor (which made paging through many changes quadratic).
const V2: &str = r#"
CREATE INDEX changes_kind_key_seq ON changes (kind, key, seq);
"#;

/// Version 3: the store's sales and returns, so a sale closed at one till can be returned
/// at another of the same store (the `sales` delta, scoped to a store by the change log's
/// `owner`). Sales and returns already received are filled in from the journal.
const V3: &str = r#"
CREATE TABLE store_sales (
    store       TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    till        TEXT NOT NULL,
    event_id    TEXT NOT NULL UNIQUE REFERENCES events (id),
    closed_at   INTEGER NOT NULL,
    PRIMARY KEY (store, sale_id)
);

CREATE TABLE store_returns (
    store       TEXT NOT NULL,
    return_id   TEXT NOT NULL,
    sale_event  TEXT NOT NULL REFERENCES store_sales (event_id),
    till        TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES events (id),
    returned_at INTEGER NOT NULL,
    PRIMARY KEY (store, return_id)
);
CREATE INDEX store_returns_sale ON store_returns (sale_event);

CREATE INDEX changes_kind_owner_seq ON changes (kind, owner, seq);

INSERT OR IGNORE INTO store_sales (store, sale_id, till, event_id, closed_at)
SELECT store, json_extract(payload, '$.payload.sale_id'), till, id, occurred_at
FROM events WHERE kind = 'sale_closed' ORDER BY received_at, rowid;

INSERT OR IGNORE INTO store_returns (store, return_id, sale_event, till, event_id, returned_at)
SELECT e.store, json_extract(e.payload, '$.payload.return_id'), s.event_id, e.till, e.id,
       e.occurred_at
FROM events e JOIN store_sales s
  ON s.store = e.store AND s.sale_id = json_extract(e.payload, '$.payload.original_sale_id')
WHERE e.kind = 'return_recorded' ORDER BY e.received_at, e.rowid;

-- Only sales of the last 30 days (store_sales::MAX_AGE_SECS) are offered to the tills.
INSERT INTO changes (kind, key, owner, at)
SELECT 'sales', event_id, store, closed_at FROM store_sales
WHERE closed_at >= CAST(strftime('%s', 'now') AS INTEGER) - 30 * 86400
ORDER BY closed_at, rowid;
"#;

/// Version 4: savings a sale earned stay pending, apart from the spendable balance, until
/// their return window closes (`release_at`, by central's clock), with each catalog's
/// window kept beside it; and the segments each customer is in. Savings earned before this version stay where they are (spendable).
const V4: &str = r#"
CREATE TABLE pending_savings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer    TEXT NOT NULL REFERENCES customers (ref) ON DELETE CASCADE,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    release_at  INTEGER NOT NULL,
    sale_id     TEXT,
    event_id    TEXT NOT NULL REFERENCES events (id)
);
CREATE INDEX pending_savings_release ON pending_savings (release_at);
CREATE INDEX pending_savings_customer ON pending_savings (customer, release_at);

CREATE TABLE customer_segments (
    customer    TEXT NOT NULL REFERENCES customers (ref) ON DELETE CASCADE,
    segment     TEXT NOT NULL,
    PRIMARY KEY (customer, segment)
);
CREATE INDEX customer_segments_segment ON customer_segments (segment);

-- Each catalog's return window in seconds, read from its body at publication (or at first
-- need, for catalogs published before this version).
ALTER TABLE catalogs ADD COLUMN return_window_secs INTEGER;
"#;

/// Version 5: the WhatsApp channel (`crate::whatsapp::store`) — contacts (the only table
/// holding a phone number), the inbox of deliveries, the outbox of messages, consent
/// evidence, receipts queued for the chat, the channel's status; and a gift card's owner,
/// so the chat can list a customer's cards.
const V5: &str = r#"
CREATE TABLE wa_contacts (
    wa_id           TEXT PRIMARY KEY,
    customer        TEXT UNIQUE,
    lang            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('asked', 'active', 'opted_out')),
    last_inbound_at INTEGER NOT NULL,
    last_pass_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE wa_inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('message', 'status')),
    body        TEXT,
    received_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    handled_at  INTEGER,
    error       TEXT
);
CREATE INDEX wa_inbox_unhandled ON wa_inbox (handled_at, id);

CREATE TABLE wa_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    wa_id           TEXT,
    customer        TEXT,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    fallback        TEXT,
    state           TEXT NOT NULL,
    rank            INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    wamid           TEXT UNIQUE,
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX wa_outbox_due ON wa_outbox (state, next_attempt_at);
CREATE INDEX wa_outbox_wa_id ON wa_outbox (wa_id);

CREATE TABLE wa_consents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    customer        TEXT,
    wa_id           TEXT,
    what            TEXT NOT NULL,
    terms_version   TEXT,
    channel         TEXT NOT NULL,
    message_id      TEXT,
    at              INTEGER NOT NULL
);
CREATE INDEX wa_consents_customer ON wa_consents (customer);

CREATE TABLE wa_receipts (
    till        TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    customer    TEXT NOT NULL,
    queued_at   INTEGER NOT NULL,
    PRIMARY KEY (till, sale_id)
);

CREATE TABLE wa_status (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    at      INTEGER NOT NULL
);

ALTER TABLE gift_cards ADD COLUMN owner TEXT REFERENCES customers (ref) ON DELETE SET NULL;
CREATE INDEX gift_cards_owner ON gift_cards (owner);
"#;

/// Version 6: every account's movements, in the order they happened, so that journals
/// arriving in any order give the same balances, debts and flags (`crate::reconcile`).
/// Accounts moved before this version start their log at their next movement.
const V6: &str = r#"
CREATE TABLE account_moves (
    account         TEXT NOT NULL CHECK (account IN ('savings', 'gift_card')),
    holder          TEXT NOT NULL,
    at              INTEGER NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id),
    direction       TEXT NOT NULL CHECK (direction IN ('credit', 'debit', 'clamp')),
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    before_balance  INTEGER NOT NULL,
    before_debt     INTEGER NOT NULL,
    after_balance   INTEGER NOT NULL,
    after_debt      INTEGER NOT NULL,
    short           INTEGER NOT NULL,
    clamped         INTEGER NOT NULL,
    source          TEXT CHECK (source IN ('snapshot', 'cached', 'live', 'unknown')),
    store           TEXT NOT NULL,
    till            TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (account, holder, event_id)
);
CREATE UNIQUE INDEX account_moves_order ON account_moves (account, holder, at, till, seq);
CREATE INDEX account_moves_store ON account_moves (store, at);
CREATE INDEX account_moves_event ON account_moves (event_id);
"#;

/// Version 7: the WhatsApp channel on several nodes, sending nothing twice. Inbox items
/// carry their number and a lease (`claimed_by`, `lease_until` in ms), so one node
/// handles a number's items at a time; outbox messages carry a lease too, and an attempt
/// whose outcome is unknown waits in state `unconfirmed` until `confirm_by` (ms) for a
/// status naming its idempotency key.
const V7: &str = r#"
ALTER TABLE wa_inbox ADD COLUMN number TEXT;
ALTER TABLE wa_inbox ADD COLUMN claimed_by TEXT;
ALTER TABLE wa_inbox ADD COLUMN lease_until INTEGER;
CREATE INDEX wa_inbox_number ON wa_inbox (number) WHERE handled_at IS NULL;
ALTER TABLE wa_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE wa_outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE wa_outbox ADD COLUMN confirm_by INTEGER;
"#;

/// Version 8: retention — flag resolutions (kept by kind and subject, so they outlive
/// reconciliation raising a flag again) and the indexes the sweeps walk
/// (`crate::retention`).
const V8: &str = r#"
CREATE TABLE flag_resolutions (
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    resolved_at INTEGER NOT NULL,
    resolved_by TEXT NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX flag_resolutions_at ON flag_resolutions (resolved_at);
CREATE INDEX changes_at ON changes (at);
CREATE INDEX token_uses_used_at ON token_uses (used_at);
CREATE INDEX issued_tokens_expires ON issued_tokens (expires_at);
CREATE INDEX store_sales_closed ON store_sales (closed_at);
"#;

/// Version 9: scoped feeds — the stores where each customer is known (seen there by a
/// sale, a journal event or a live lookup, or assigned by central IT) and where each gift
/// card was sold or used (`crate::scope`). Rows go with their customer or card.
const V9: &str = r#"
CREATE TABLE customer_stores (
    customer    TEXT NOT NULL REFERENCES customers (ref) ON DELETE CASCADE,
    store       TEXT NOT NULL,
    assigned    INTEGER NOT NULL DEFAULT 0,
    seen_at     INTEGER,
    PRIMARY KEY (customer, store)
);
CREATE TABLE gift_card_stores (
    card        TEXT NOT NULL REFERENCES gift_cards (ref) ON DELETE CASCADE,
    store       TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (card, store)
);
"#;

/// Version 10: lapsed scopes — `customer_stores.lapsed_at`, when central told the store's
/// tills that the customer left its scope (a `left-scope` change row for the store), so
/// that a lapse is told once; cleared when the customer is seen there or assigned again.
/// The index holds only the rows not yet told, by store and last visit, so a page finds
/// the store's new lapses without walking its old ones (`crate::scope::LAPSE`).
const V10: &str = r#"
ALTER TABLE customer_stores ADD COLUMN lapsed_at INTEGER;
CREATE INDEX customer_stores_untold ON customer_stores (store, seen_at)
    WHERE assigned = 0 AND lapsed_at IS NULL;
"#;

/// Version 11: scoped pages fanned out at write time — `change_stores`, one row per store
/// that receives a customer's, balance's, personal promotion's or gift card's change (or
/// one for every store, `'*'`, when its subject is known nowhere), written by the trigger
/// `change_stores_fan_out` with the rule of `crate::scope::fan_out_v1` (and the rows of
/// the change it supersedes deleted, `crate::scope::supersede_v1`), so a store's page is
/// a range scan over its own rows. Rows go with their change (`ON DELETE CASCADE`,
/// found by `seq`). The changes already logged are each key's latest sent to every store:
/// a store may receive a change it would not have (its tills upsert what they hold),
/// never miss one.
const V11: &str = concat!(
    r#"
CREATE TABLE change_stores (
    kind    TEXT NOT NULL,
    store   TEXT NOT NULL,
    seq     INTEGER NOT NULL REFERENCES changes (seq) ON DELETE CASCADE,
    PRIMARY KEY (kind, store, seq)
);
CREATE INDEX change_stores_seq ON change_stores (seq);
INSERT INTO change_stores (kind, store, seq)
    SELECT c.kind, '*', c.seq FROM changes c
    WHERE c.kind IN ('customers', 'balances', 'personal-promotions', 'gift-cards')
      AND NOT EXISTS (SELECT 1 FROM changes d
                      WHERE d.kind = c.kind AND d.key = c.key AND d.seq > c.seq);
CREATE TRIGGER change_stores_fan_out AFTER INSERT ON changes
WHEN NEW.kind IN ('customers', 'balances', 'personal-promotions', 'gift-cards')
BEGIN
"#,
    crate::scope::fan_out_v1!(),
    ";
",
    crate::scope::supersede_v1!(),
    r#";
END;
"#
);
