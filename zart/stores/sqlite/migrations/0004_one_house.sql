-- zart on SQLite, version 4: the rules every store shares.
--
-- A child's outcome moves from its record in the parent's log to its own
-- row (record_status, with its output and error), where the parent's log
-- reads it; whether the parent waits on it too (awaited). An execution
-- knows the top of its tree (root_id), a run number (continue_as_new),
-- and a stalled status. A log record keeps every failed attempt's error
-- (errors), the execution attempt that wrote it, and when its step began.
-- Messages and live workers get tables of their own.

ALTER TABLE executions ADD COLUMN run INTEGER NOT NULL DEFAULT 1;
ALTER TABLE executions ADD COLUMN root_id TEXT;
ALTER TABLE executions ADD COLUMN record_status TEXT;
ALTER TABLE executions ADD COLUMN awaited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN trace TEXT;

-- The top of each tree: walk up from every child.
WITH RECURSIVE up (id, top) AS (
    SELECT id, id FROM executions WHERE parent_id IS NULL
    UNION ALL
    SELECT e.id, up.top FROM executions e JOIN up ON e.parent_id = up.id
)
UPDATE executions SET root_id = (SELECT top FROM up WHERE up.id = executions.id)
 WHERE parent_id IS NOT NULL;

-- Children that ended carry what their parent's record said; awaited
-- children keep their parent waiting on them.
UPDATE executions SET
    record_status = (SELECT s.status FROM steps s JOIN executions p ON p.id = executions.parent_id
                      WHERE s.key BETWEEN p.num << 32 AND (p.num << 32) + 4294967295
                        AND s.name = executions.parent_step
                        AND s.status IN ('completed', 'error', 'failed', 'cancelled')),
    awaited = coalesce((SELECT s.awaited FROM steps s JOIN executions p ON p.id = executions.parent_id
                         WHERE s.key BETWEEN p.num << 32 AND (p.num << 32) + 4294967295
                           AND s.name = executions.parent_step), 0)
 WHERE parent_id IS NOT NULL;

ALTER TABLE executions DROP COLUMN awaiting;

ALTER TABLE steps ADD COLUMN run INTEGER NOT NULL DEFAULT 1;
ALTER TABLE steps ADD COLUMN errors TEXT;
ALTER TABLE steps ADD COLUMN execution_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN started_at INTEGER;
ALTER TABLE steps DROP COLUMN awaited;
UPDATE steps SET execution_attempt = (SELECT attempt FROM executions e WHERE e.id = steps.execution_id);

DROP INDEX executions_claim;
DROP INDEX executions_parent;
CREATE INDEX executions_due ON executions (wake_at, created_at, num) WHERE wake_at IS NOT NULL;
CREATE INDEX executions_task_due ON executions (task_name, wake_at, created_at, num)
    WHERE wake_at IS NOT NULL;
CREATE INDEX executions_root ON executions (root_id, wake_at) WHERE root_id IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id, num) WHERE parent_id IS NOT NULL;
CREATE INDEX executions_created ON executions (created_at, id);
CREATE INDEX executions_waiting_children ON executions (id)
    WHERE status = 'waiting' AND waiting_for = 'children';

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order of sending
    execution_id TEXT NOT NULL REFERENCES executions (id),
    topic        TEXT NOT NULL,
    payload      TEXT,
    consumed     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
CREATE INDEX messages_open ON messages (execution_id, topic, id) WHERE consumed = 0;

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
