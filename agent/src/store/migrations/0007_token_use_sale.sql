-- tillpass agent store, migration 7: what a token's use was for.
-- Never edit once landed: add a new migration instead.

-- A token's current use at this till is bound to what it was used for: the sale (POS
-- session) it identifies or pays. A read of the token for the same sale, or within the
-- visit of a pass, is the same use (protocol::token::replay); `last_used_at` is the last
-- read that belonged to the current use.
ALTER TABLE token_uses ADD COLUMN sale_id TEXT;
