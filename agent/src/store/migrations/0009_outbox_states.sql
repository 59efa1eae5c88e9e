-- tillpass agent store, migration 9: an event central rejected is a state of its own.
-- Never edit once landed: add a new migration instead.

-- An outbox row is `pending` (waiting for central) or `rejected` (central refused it: kept
-- with central's code and reason, when it was refused and how many uploads were refused,
-- never sent again until central IT re-drives it with `tillpass journal retry`, never
-- deleted but by central's acknowledgement). Rejected rows do not count as waiting and do
-- not hold back retention.
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'rejected'));
ALTER TABLE outbox ADD COLUMN rejected_at INTEGER;
ALTER TABLE outbox ADD COLUMN reject_code TEXT;

-- Rows refused before this migration kept central's whole answer as JSON in `last_error`.
UPDATE outbox
   SET state = 'rejected',
       rejected_at = created_at,
       reject_code = CASE WHEN json_valid(last_error)
                          THEN json_extract(last_error, '$.code') END,
       last_error = CASE WHEN json_valid(last_error)
                         THEN coalesce(json_extract(last_error, '$.detail'), last_error)
                         ELSE last_error END
 WHERE last_error IS NOT NULL;

CREATE INDEX outbox_state ON outbox(state, seq);
