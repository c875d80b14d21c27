-- zart PostgreSQL schema, version 1.
--
-- Placeholder convention (zart.postgres_sql.render fills this text with
-- psycopg.sql.SQL(...).format before running it, so every name is a quoted
-- identifier and no value is ever spliced in):
--   {executions} {records} {events}   the tables, prefixed ("<prefix>records")
--                                     and schema-qualified when a schema is set
--   {name_suffix}                     the bare name "<prefix>suffix", for indexes
--                                     (an index always lives in its table's schema)
-- Braces meant literally must be doubled ({{ and }}). migrate() creates the
-- schema and the {schema_version} table before running any file, and runs
-- each file in the same transaction as the row that records its version.

-- One row per execution. wake_at is "due at" for every claimable status
-- (pending, sleeping, waiting with a deadline, and running, where it is the
-- lease expiry) and NULL otherwise, so "due work" is one range on one column.
-- row_order breaks ties between equal (wake_at, created_at) in creation order.
-- seq is the highest log seq given before a retry dropped failed records
-- (the lease holder numbers new records, so a step commit leaves this row
-- alone); awaiting
-- counts the awaited children still open while the execution waits on them.
CREATE TABLE {executions} (
    id              text        PRIMARY KEY,
    row_order       bigint      GENERATED ALWAYS AS IDENTITY,
    task_name       text        NOT NULL,
    kind            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN
                        ('pending', 'running', 'sleeping', 'waiting',
                         'completed', 'failed', 'cancelled')),
    input           jsonb,
    output          jsonb,
    error           jsonb,
    state           jsonb,
    attempt         integer     NOT NULL DEFAULT 0,
    parent_id       text,
    parent_step     text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    wake_at         timestamptz,
    waiting_for     text,
    token           bigint      NOT NULL DEFAULT 0,
    owner           text,
    awaiting        integer     NOT NULL DEFAULT 0,
    seq             integer     NOT NULL DEFAULT 0,
    format_version  integer     NOT NULL DEFAULT 1
) WITH (fillfactor = 80);  -- room for HOT updates: a step commit touches no indexed column

-- Finished executions (the bulk of a long-lived table) have no wake_at and
-- stay out of this index, so claiming due work costs the same at a million rows
-- as at a hundred. Its order is the claim order.
CREATE INDEX {name_executions_due} ON {executions} (wake_at, created_at, row_order)
    WHERE wake_at IS NOT NULL;

-- Cancel cascades and list(parent_id=...).
CREATE INDEX {name_executions_parent} ON {executions} (parent_id)
    WHERE parent_id IS NOT NULL;

-- list(): newest first.
CREATE INDEX {name_executions_created} ON {executions} (created_at, id);

-- No foreign keys: log rows and events are only written while the owning
-- execution's row is locked, and an FK check would cost every step write a
-- lookup. Rows are never deleted except by RetryExecution's own cleanup.

-- The log, keyed by name. seq is fixed when a name is first written.
-- awaited marks schedule records a waiting parent counts on.
CREATE TABLE {records} (
    execution_id    text        NOT NULL,
    name            text        NOT NULL,
    seq             integer     NOT NULL,
    kind            text        NOT NULL,
    status          text        NOT NULL,
    step            text,
    result          jsonb,
    error           jsonb,
    attempts        integer     NOT NULL DEFAULT 0,
    wake_at         timestamptz,
    child_id        text,
    awaited         boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (execution_id, name)
);

-- Offered events: the first payload under a name wins.
CREATE TABLE {events} (
    execution_id    text        NOT NULL,
    name            text        NOT NULL,
    row_order       bigint      GENERATED ALWAYS AS IDENTITY,
    payload         jsonb,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (execution_id, name)
);
