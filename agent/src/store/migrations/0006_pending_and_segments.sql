-- tillpass agent store, migration 6: central's pending savings, and customers' segments.
-- Never edit once landed: add a new migration instead.

-- Central keeps savings still inside their return window apart from the spendable
-- balance: `synced_pending` is its pending sum, `next_release_at` (unix seconds, central's
-- clock) when the next of them becomes spendable. `pending` stays what this till earned
-- (less what its returns took back) that central has not seen yet. Neither is spendable.
ALTER TABLE savings_accounts ADD COLUMN synced_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE savings_accounts ADD COLUMN next_release_at INTEGER;

-- The segments central put the customer in, as a JSON array of names.
ALTER TABLE customers ADD COLUMN segments TEXT NOT NULL DEFAULT '[]';
