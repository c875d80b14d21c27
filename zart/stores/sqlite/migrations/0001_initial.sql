-- zart on SQLite, version 1.
--
-- Datetimes are INTEGER microseconds since the Unix epoch (UTC): they sort
-- as numbers and round-trip a datetime exactly. JSON values are TEXT.
-- A NULL wake_at means "not claimable" (final, or waiting with no deadline),
-- so the claim index only holds the rows a worker may ever take.

CREATE TABLE executions (
    id             TEXT PRIMARY KEY,
    task_name      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    input          TEXT,
    output         TEXT,
    error          TEXT,
    state          TEXT,
    attempt        INTEGER NOT NULL DEFAULT 0,
    parent_id      TEXT,
    parent_step    TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    wake_at        INTEGER,
    token          INTEGER NOT NULL DEFAULT 0,  -- lease token, bumped by claim and cancel
    owner          TEXT,                        -- the worker holding the lease
    waiting_for    TEXT,                        -- an event name, or 'children'
    awaiting       INTEGER NOT NULL DEFAULT 0,  -- awaited children not yet final
    seq            INTEGER NOT NULL DEFAULT 0,  -- the last seq given to a log record
    format_version INTEGER NOT NULL
);

CREATE INDEX executions_claim ON executions (wake_at, created_at) WHERE wake_at IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX executions_status ON executions (status, created_at);
CREATE INDEX executions_task ON executions (task_name, created_at);

CREATE TABLE steps (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    name         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    step         TEXT,
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    wake_at      INTEGER,
    child_id     TEXT,
    awaited      INTEGER NOT NULL DEFAULT 0,  -- 1: its parent waits for this child
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, name)
);

CREATE TABLE events (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    name         TEXT NOT NULL,
    payload      TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, name)
);
