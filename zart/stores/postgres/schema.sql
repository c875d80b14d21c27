-- zart on PostgreSQL: the schema a new database gets (version 8).
-- Older databases reach the same schema through migrations/ (a test holds
-- the two together).
--
-- Names in braces are filled in before the text runs (psycopg.sql, quoted
-- identifiers, no value ever spliced in): {executions} {records} {events}
-- {messages} {workers} {schedules} are the tables, prefixed and schema-qualified;
-- {name_x} is the bare name "<prefix>x", for indexes and constraints.

-- One row per execution. wake_at is "due at" for every claimable status
-- (pending, sleeping, waiting with a deadline, and running, where it is the
-- lease expiry) and NULL otherwise, so due work is one range of one index.
-- row_order is the creation order. A child's row carries what its record
-- in the parent's log reads as once it ended (record_status), and whether
-- the parent waits on it (awaited).
CREATE TABLE {executions} (
    id              text        PRIMARY KEY,
    row_order       bigint      GENERATED ALWAYS AS IDENTITY,
    task_name       text        NOT NULL,
    kind            text        NOT NULL,
    status          text        NOT NULL,
    input           json,
    output          json,
    error           json,
    state           json,
    attempt         integer     NOT NULL DEFAULT 0,
    parent_id       text,
    parent_step     text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    wake_at         timestamptz,
    waiting_for     text,
    token           bigint      NOT NULL DEFAULT 0,
    owner           text,
    seq             integer     NOT NULL DEFAULT 0,
    format_version  integer     NOT NULL DEFAULT 1,
    awaited         boolean     NOT NULL DEFAULT false,
    record_status   text,
    run             integer     NOT NULL DEFAULT 1,
    root_id         text,
    trace           json,
    CONSTRAINT {name_executions_status_check} CHECK (status IN
        ('pending', 'running', 'sleeping', 'waiting', 'stalled', 'completed', 'failed', 'cancelled'))
) WITH (fillfactor = 80);  -- room for HOT updates: a step commit touches no indexed column

-- Due work in claim order; finished rows have no wake_at and stay out.
CREATE INDEX {name_executions_due} ON {executions} (wake_at, created_at, row_order)
    WHERE wake_at IS NOT NULL;
-- The same for a worker serving some tasks only.
CREATE INDEX {name_executions_task_due} ON {executions} (task_name, wake_at, created_at, row_order)
    WHERE wake_at IS NOT NULL;
CREATE INDEX {name_executions_root} ON {executions} (root_id, wake_at) WHERE root_id IS NOT NULL;
CREATE INDEX {name_executions_parent} ON {executions} (parent_id, row_order)
    WHERE parent_id IS NOT NULL;
CREATE INDEX {name_executions_created} ON {executions} (created_at, id);
-- Listings newest first, filtered by status, task or both: each index ends
-- in (created_at, id), the listing's whole order, so a page is one index
-- walk with no sort. The task and status index also serves status_counts
-- and counts(task) with an index-only scan in group order.
CREATE INDEX {name_executions_status} ON {executions} (status, created_at, id);
CREATE INDEX {name_executions_task} ON {executions} (task_name, created_at, id);
CREATE INDEX {name_executions_task_status} ON {executions} (task_name, status, created_at, id);
CREATE INDEX {name_executions_awaiting_children} ON {executions} (id)
    WHERE status = 'waiting' AND waiting_for = 'children';

-- The log, per run, keyed by name. seq is fixed when a name is first written.
CREATE TABLE {records} (
    execution_id      text        NOT NULL,
    name              text        NOT NULL,
    seq               integer     NOT NULL,
    kind              text        NOT NULL,
    status            text        NOT NULL,
    step              text,
    result            json,
    error             json,
    attempts          integer     NOT NULL DEFAULT 0,
    wake_at           timestamptz,
    child_id          text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    run               integer     NOT NULL DEFAULT 1,
    errors            json,
    execution_attempt integer     NOT NULL DEFAULT 0,
    started_at        timestamptz,
    PRIMARY KEY (execution_id, run, name)
);

-- Offered events: the first payload under a name wins.
CREATE TABLE {events} (
    execution_id    text        NOT NULL,
    name            text        NOT NULL,
    row_order       bigint      GENERATED ALWAYS AS IDENTITY,
    payload         json,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (execution_id, name)
);

CREATE TABLE {messages} (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order of sending
    execution_id    text        NOT NULL,
    topic           text        NOT NULL,
    payload         json,
    consumed        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    idempotency_key text  -- unique within the execution: a send tried again stores once
);
CREATE INDEX {name_messages_open} ON {messages} (execution_id, topic, id) WHERE NOT consumed;
CREATE UNIQUE INDEX {name_messages_key} ON {messages} (execution_id, idempotency_key)
 WHERE idempotency_key IS NOT NULL;

CREATE TABLE {workers} (
    id              text        PRIMARY KEY,
    host            text        NOT NULL,
    pid             integer     NOT NULL,
    tasks           json        NOT NULL,
    concurrency     integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    heartbeat_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,  -- past it, the worker counts as dead
    inflight        integer     NOT NULL DEFAULT 0
);

-- Recurring schedules (zart.schedules): durations in microseconds;
-- next_fire_at is when the next tick starts.
CREATE TABLE {schedules} (
    id                text        PRIMARY KEY,
    task_name         text        NOT NULL,
    input             json,
    cron              text,
    every_us          bigint,
    timezone          text        NOT NULL,
    overlap           text        NOT NULL,
    catchup_us        bigint      NOT NULL,
    jitter_us         bigint      NOT NULL,
    paused            boolean     NOT NULL,
    next_tick         timestamptz NOT NULL,
    next_fire_at      timestamptz NOT NULL,
    last_tick         timestamptz,
    last_execution_id text,
    buffered_tick     timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX {name_schedules_due} ON {schedules} (next_fire_at) WHERE NOT paused;
