-- zart PostgreSQL schema, version 5: the rules every store shares.
--
-- An execution knows the top of its tree (root_id), a run number
-- (continue_as_new) and a stalled status; the log is kept per run, and a
-- record keeps every failed attempt's error (errors), the execution
-- attempt that wrote it, and when its step began. Messages and live
-- workers get tables of their own; claims and listings get indexes that
-- keep them off a scan of a large table.

ALTER TABLE {executions} DROP CONSTRAINT {name_executions_status_check};
ALTER TABLE {executions} ADD CONSTRAINT {name_executions_status_check} CHECK (status IN
    ('pending', 'running', 'sleeping', 'waiting', 'stalled', 'completed', 'failed', 'cancelled'));

ALTER TABLE {executions}
    ADD COLUMN run     integer NOT NULL DEFAULT 1,
    ADD COLUMN root_id text,
    ADD COLUMN trace   json;

WITH RECURSIVE up (id, top) AS (
    SELECT id, id FROM {executions} WHERE parent_id IS NULL
    UNION ALL
    SELECT e.id, up.top FROM {executions} e JOIN up ON e.parent_id = up.id
)
UPDATE {executions} e SET root_id = up.top FROM up WHERE e.id = up.id AND e.parent_id IS NOT NULL;

-- A child that ended before version 3 left its outcome in its parent's log
-- only: its row's record_status is NULL, which now reads as open (the wake-up
-- of a parent waits for no awaited child with a NULL record_status). Its
-- record says how it ended (as SQLite's migration 0004 does).
UPDATE {executions} c SET record_status = x.status
  FROM {records} x
 WHERE c.record_status IS NULL AND c.parent_id IS NOT NULL
   AND c.status IN ('completed', 'failed', 'cancelled')
   AND x.execution_id = c.parent_id AND x.name = c.parent_step
   AND x.status IN ('completed', 'error', 'failed', 'cancelled');

ALTER TABLE {records}
    ADD COLUMN run               integer NOT NULL DEFAULT 1,
    ADD COLUMN errors            json,
    ADD COLUMN execution_attempt integer NOT NULL DEFAULT 0,
    ADD COLUMN started_at        timestamptz;
UPDATE {records} x SET execution_attempt = e.attempt FROM {executions} e WHERE e.id = x.execution_id;
ALTER TABLE {records} DROP CONSTRAINT {name_records_pkey};
ALTER TABLE {records} ADD PRIMARY KEY (execution_id, run, name);

CREATE INDEX {name_executions_task_due} ON {executions} (task_name, wake_at, created_at, row_order)
    WHERE wake_at IS NOT NULL;
CREATE INDEX {name_executions_root} ON {executions} (root_id, wake_at) WHERE root_id IS NOT NULL;
CREATE INDEX {name_executions_status} ON {executions} (status, created_at);
CREATE INDEX {name_executions_task} ON {executions} (task_name, created_at);

CREATE TABLE {messages} (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order of sending
    execution_id    text        NOT NULL,
    topic           text        NOT NULL,
    payload         json,
    consumed        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);
CREATE INDEX {name_messages_open} ON {messages} (execution_id, topic, id) WHERE NOT consumed;

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
