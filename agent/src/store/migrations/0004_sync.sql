-- tillpass agent store, migration 4: what the sync task keeps between runs.
-- Never edit once landed: add a new migration instead.

-- Text facts of the sync task: the opaque delta cursors central hands out
-- (`cursor.customers`, …) and the ETags of the trust list and the catalog
-- (`etag.trust-list`, `etag.catalog`). `till_state` holds only integers.
CREATE TABLE sync_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;

-- Applying a balance delta sums the money events still in the outbox, by kind.
CREATE INDEX outbox_kind ON outbox(kind);

-- Personal promotions as central names them: the offer's own id (removals name only
-- that) and its validity window.
ALTER TABLE personal_promotions ADD COLUMN offer_id TEXT;
ALTER TABLE personal_promotions ADD COLUMN valid_from INTEGER;
ALTER TABLE personal_promotions ADD COLUMN valid_until INTEGER;
CREATE INDEX personal_promotions_offer ON personal_promotions(offer_id);

-- Retention purges token uses by age.
CREATE INDEX token_uses_last_used ON token_uses(last_used_at);
