-- zart on SQLite: the schema a new database gets (version 7).
-- Older databases reach the same schema through migrations/ (a test holds
-- the two together).
--
-- Datetimes are INTEGER microseconds since the Unix epoch (UTC): they sort
-- as numbers and round-trip a datetime exactly. JSON values are TEXT.
-- wake_at is "due at" for every claimable status (pending, sleeping,
-- waiting with a deadline, and running, where it is the lease expiry) and
-- NULL otherwise, so due work is one range of one index.

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
    waiting_for    TEXT,                        -- an event name, 'children' or 'topic:<topic>'
    seq            INTEGER NOT NULL DEFAULT 0,  -- the highest seq its log has given
    format_version INTEGER NOT NULL,
    num            INTEGER NOT NULL DEFAULT 0,  -- creation order, fixed: keys the log
    run            INTEGER NOT NULL DEFAULT 1,  -- continue_as_new starts the next
    root_id        TEXT,                        -- the top of its tree (NULL: itself)
    record_status  TEXT,                        -- a child's outcome as its parent's log reads it
    awaited        INTEGER NOT NULL DEFAULT 0,  -- 1: its parent waits on it
    trace          TEXT                         -- the caller's trace context (JSON)
);

-- Listings newest first, filtered by status, task or both: each index ends
-- in (created_at, id), the listing's whole order, so a page is one index
-- walk with no sort. The task and status index also serves status_counts
-- and counts(task) from the index alone, in group order.
CREATE INDEX executions_status ON executions (status, created_at, id);
CREATE INDEX executions_task ON executions (task_name, created_at, id);
CREATE INDEX executions_task_status ON executions (task_name, status, created_at, id);
CREATE UNIQUE INDEX executions_num ON executions (num);
CREATE INDEX executions_due ON executions (wake_at, created_at, num) WHERE wake_at IS NOT NULL;
CREATE INDEX executions_task_due ON executions (task_name, wake_at, created_at, num)
    WHERE wake_at IS NOT NULL;
CREATE INDEX executions_root ON executions (root_id, wake_at) WHERE root_id IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id, num) WHERE parent_id IS NOT NULL;
CREATE INDEX executions_created ON executions (created_at, id);
CREATE INDEX executions_waiting_children ON executions (id)
    WHERE status = 'waiting' AND waiting_for = 'children';

-- The log. Each record's key is executions.num << 32 | seq: an execution's
-- records are one key range in seq order, and a step commit appends at its
-- end (about one page written per commit). Names stay unique per run: the
-- lease holder gives a new name the next seq and an old name its old seq,
-- and the upsert changes a key only under its own name.
CREATE TABLE steps (
    key               INTEGER PRIMARY KEY,
    execution_id      TEXT NOT NULL REFERENCES executions (id),
    name              TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    step              TEXT,
    result            TEXT,
    error             TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    wake_at           INTEGER,
    child_id          TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    run               INTEGER NOT NULL DEFAULT 1,
    errors            TEXT,                        -- every failed attempt (JSON)
    execution_attempt INTEGER NOT NULL DEFAULT 0,
    started_at        INTEGER
);

-- Offered events: the first payload under a name wins.
CREATE TABLE events (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    name         TEXT NOT NULL,
    payload      TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, name)
);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order of sending
    execution_id TEXT NOT NULL REFERENCES executions (id),
    topic        TEXT NOT NULL,
    payload      TEXT,
    consumed     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    idempotency_key TEXT  -- unique within the execution: a send tried again stores once
);
CREATE INDEX messages_open ON messages (execution_id, topic, id) WHERE consumed = 0;
CREATE UNIQUE INDEX messages_key ON messages (execution_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    tasks        TEXT NOT NULL,     -- a JSON array of task names
    concurrency  INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,  -- past it, the worker counts as dead
    inflight     INTEGER NOT NULL DEFAULT 0
);

-- Recurring schedules (zart.schedules): durations in microseconds;
-- next_fire_at is when the next tick starts.
CREATE TABLE schedules (
    id                TEXT PRIMARY KEY,
    task_name         TEXT NOT NULL,
    input             TEXT,
    cron              TEXT,
    every_us          INTEGER,
    timezone          TEXT NOT NULL,
    overlap           TEXT NOT NULL,
    catchup_us        INTEGER NOT NULL,
    jitter_us         INTEGER NOT NULL,
    paused            INTEGER NOT NULL,
    next_tick         INTEGER NOT NULL,
    next_fire_at      INTEGER NOT NULL,
    last_tick         INTEGER,
    last_execution_id TEXT,
    buffered_tick     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
