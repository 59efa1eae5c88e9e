-- Sign-in guesses, one row each, reserved in the same transaction that checks the budget
-- and before the password is looked at: concurrent guesses cannot all pass the check.
-- Counted by login name (known or not, so that a lockout does not tell which names exist)
-- and by client address. `known` = 1 when the address had signed in to that account
-- before: such an address spends a budget of its own, so guesses from elsewhere cannot
-- lock the manager out at their usual till or office PC. Replaces the per-name counter
-- of migration 3.
DROP TABLE manager_login_failures;
CREATE TABLE manager_login_attempts (
    attempt_id  INTEGER PRIMARY KEY,
    login_key   TEXT NOT NULL,
    addr        TEXT NOT NULL,
    known       INTEGER NOT NULL CHECK (known IN (0, 1)),
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX manager_login_attempts_key ON manager_login_attempts(login_key, at);
CREATE INDEX manager_login_attempts_addr ON manager_login_attempts(addr, at);

-- Addresses a manager signed in from.
CREATE TABLE manager_known_addrs (
    manager_id     INTEGER NOT NULL REFERENCES managers(manager_id) ON DELETE CASCADE,
    addr           TEXT NOT NULL,
    last_login_at  INTEGER NOT NULL,
    PRIMARY KEY (manager_id, addr)
) STRICT;
