-- tillpass agent store, migration 5: returns recorded at the store's other tills.
-- Never edit once landed: add a new migration instead.

-- A sale of another till of the store arrives from central (`sales.origin = 'store'`)
-- with the returns already recorded against it anywhere in the store: they are kept
-- beside this till's own so that a return here continues from what was already given
-- back. `origin` says which are this till's; `till_id` names the till of a store return.
-- A store sale's `receipt` is `{}`: its own till answered and printed the receipt.
ALTER TABLE sale_returns ADD COLUMN origin TEXT NOT NULL DEFAULT 'local'
    CHECK (origin IN ('local', 'store'));
ALTER TABLE sale_returns ADD COLUMN till_id TEXT;

-- Why returns of a sale are refused here, when central sent a return of it recorded at
-- another till that this till could not read: continuing without it could give back
-- again what was already given back. Cleared when a readable copy arrives.
ALTER TABLE sales ADD COLUMN returns_blocked TEXT;
