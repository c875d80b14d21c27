-- zart on SQLite: every statement the store runs, by name.
-- Parameters are named (:name). Times are integer microseconds (see schema.sql).
-- An execution's log is the key range num << 32 .. (num << 32) + 4294967295.

-- name: version_table
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- name: has_version_table
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version';

-- name: has_executions_table
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'executions';

-- name: current_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: record_version
INSERT INTO schema_version (version) VALUES (:version);

-- name: data_version
PRAGMA data_version;

-- name: insert_execution
INSERT INTO executions (id, num, task_name, kind, status, input, parent_id, parent_step, root_id,
                        created_at, updated_at, wake_at, format_version, trace)
VALUES (:id, (SELECT coalesce(max(num), 0) + 1 FROM executions), :task_name, :kind, 'pending',
        :input, :parent_id, :parent_step, :root_id, :now, :now, :now, :format_version, :trace)
ON CONFLICT (id) DO NOTHING
RETURNING id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
          parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace;

-- name: insert_leased_execution
INSERT INTO executions (id, num, task_name, kind, status, input, parent_id, parent_step, root_id,
                        created_at, updated_at, wake_at, token, owner, format_version, trace)
VALUES (:id, (SELECT coalesce(max(num), 0) + 1 FROM executions), :task_name, :kind, 'running',
        :input, :parent_id, :parent_step, :root_id, :now, :now, :until, 1, :worker,
        :format_version, :trace)
ON CONFLICT (id) DO NOTHING
RETURNING id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
          parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace;

-- name: get
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions WHERE id = :id;

-- name: status_of
SELECT status FROM executions WHERE id = :id;

-- Claims: the oldest due rows first. Four shapes, so that each can use its index.

-- name: due
SELECT id, wake_at FROM executions
 WHERE wake_at <= :now AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, num LIMIT :limit;

-- A worker serving some tasks walks each task's own range of
-- executions_task_due in claim order, up to :limit rows each, and takes the
-- oldest :limit of those: bounded work whatever the planner knows. Given
-- task_name IN (...) instead, the planner (once ANALYZE ran) walks
-- executions_due in claim order through the backlogs of tasks the worker
-- does not serve, filtering on the task.
-- name: due_of_tasks
SELECT e.id, e.wake_at
  FROM (SELECT DISTINCT value AS name FROM json_each(:tasks)) AS t
  JOIN executions AS e ON e.rowid IN (
       SELECT rowid FROM executions
        WHERE task_name = t.name AND wake_at <= :now
          AND status NOT IN ('completed', 'failed', 'cancelled')
        ORDER BY wake_at, created_at, num LIMIT :limit)
 ORDER BY e.wake_at, e.created_at, e.num LIMIT :limit;

-- name: due_in_tree
SELECT id, wake_at FROM executions
 WHERE (id = :under OR root_id = :under)
   AND wake_at <= :now AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, num LIMIT :limit;

-- name: due_of_tasks_in_tree
SELECT id, wake_at FROM executions
 WHERE (id = :under OR root_id = :under)
   AND task_name IN (SELECT value FROM json_each(:tasks))
   AND wake_at <= :now AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, num LIMIT :limit;

-- The last column tells whether the execution has a log to load at all
-- (a new one has none: no record, no event, no message).
-- name: take
UPDATE executions
   SET status = 'running', token = token + 1, owner = :worker, wake_at = :until,
       waiting_for = NULL, updated_at = :now
 WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
          parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace,
          token, num, seq,
          EXISTS (SELECT 1 FROM steps s
                   WHERE s.key BETWEEN num << 32 AND (num << 32) + 4294967295)
          OR EXISTS (SELECT 1 FROM events v WHERE v.execution_id = executions.id)
          OR EXISTS (SELECT 1 FROM messages m
                      WHERE m.execution_id = executions.id AND m.consumed = 0);

-- name: next_wake
SELECT min(wake_at) FROM executions
 WHERE wake_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');

-- The first wake-up of each task (the head of its range of
-- executions_task_due), then the earliest of those, for the same reason as
-- due_of_tasks.
-- name: next_wake_of_tasks
SELECT min((SELECT wake_at FROM executions
             WHERE task_name = t.value AND wake_at IS NOT NULL
               AND status NOT IN ('completed', 'failed', 'cancelled')
             ORDER BY wake_at LIMIT 1))
  FROM json_each(:tasks) AS t;

-- name: next_wake_in_tree
SELECT min(wake_at) FROM executions
 WHERE (id = :under OR root_id = :under)
   AND wake_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: next_wake_of_tasks_in_tree
SELECT min(wake_at) FROM executions
 WHERE (id = :under OR root_id = :under)
   AND task_name IN (SELECT value FROM json_each(:tasks))
   AND wake_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');

-- Due task names no handler covers: one index probe per distinct task
-- name (a skip scan of executions_task_due), not a scan of the due rows.
-- name: unknown_tasks
WITH RECURSIVE names (name) AS (
    SELECT min(task_name) FROM executions WHERE wake_at IS NOT NULL
    UNION ALL
    SELECT (SELECT min(task_name) FROM executions
             WHERE wake_at IS NOT NULL AND task_name > names.name)
      FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names
 WHERE name IS NOT NULL
   AND name NOT IN (SELECT value FROM json_each(:known))
   AND EXISTS (SELECT 1 FROM executions e
                WHERE e.task_name = names.name AND e.wake_at <= :now
                  AND e.status NOT IN ('completed', 'failed', 'cancelled'))
 ORDER BY name;

-- The log of one run: each schedule record reads as its child's row once
-- the child ended (a finishing child writes only its own row).
-- name: load_records
SELECT s.name, s.kind,
       CASE WHEN c.record_status IS NULL THEN s.status ELSE c.record_status END,
       s.seq, s.step,
       CASE WHEN c.record_status IS NULL THEN s.result ELSE c.output END,
       CASE WHEN c.record_status IS NULL THEN s.error ELSE c.error END,
       s.attempts, s.errors, s.wake_at, s.child_id, s.execution_attempt, s.started_at,
       s.created_at,
       CASE WHEN c.record_status IS NULL THEN s.updated_at ELSE c.updated_at END
  FROM steps s LEFT JOIN executions c ON c.id = s.child_id
 WHERE s.key BETWEEN :num << 32 AND (:num << 32) + 4294967295 AND s.run = :run
 ORDER BY s.key;

-- name: load_head
SELECT num, run, seq FROM executions WHERE id = :id;

-- name: load_events
SELECT name, payload FROM events WHERE execution_id = :id ORDER BY rowid;

-- name: load_messages
SELECT id, topic, payload FROM messages WHERE execution_id = :id AND consumed = 0 ORDER BY id;

-- A step's record with the fence folded in: the row is selected from the
-- execution only while the lease holds, so a lost lease writes nothing. A
-- record keeps its seq, created_at and key; it is changed only under its
-- own name (a key held by another name changes nothing, and is reported).
-- name: upsert_record_fenced
INSERT INTO steps (key, execution_id, run, name, seq, kind, status, step, result, error, attempts,
                   errors, wake_at, child_id, execution_attempt, started_at, created_at,
                   updated_at)
SELECT (num << 32) + :seq, id, run, :name, :seq, :kind, :status, :step, :result, :error,
       :attempts, :errors, :wake_at, :child_id, :execution_attempt, :started_at, :now, :now
  FROM executions WHERE id = :id AND status = 'running' AND token = :token
ON CONFLICT (key) DO UPDATE SET
    kind = excluded.kind, status = excluded.status, step = excluded.step,
    result = excluded.result, error = excluded.error, attempts = excluded.attempts,
    errors = excluded.errors, wake_at = excluded.wake_at, child_id = excluded.child_id,
    execution_attempt = excluded.execution_attempt, started_at = excluded.started_at,
    updated_at = excluded.updated_at
 WHERE name = excluded.name;

-- name: fence
SELECT num, run, attempt, parent_id FROM executions
 WHERE id = :id AND status = 'running' AND token = :token;

-- name: insert_child
INSERT INTO executions (id, num, task_name, kind, status, input, parent_id, parent_step, root_id,
                        created_at, updated_at, wake_at, format_version, trace)
VALUES (:id, (SELECT coalesce(max(num), 0) + 1 FROM executions), :task_name, :kind, 'pending',
        :input, :parent_id, :parent_step, :root_id, :now, :now, :now, :format_version, :trace)
ON CONFLICT (id) DO NOTHING;

-- name: rerun_facts
SELECT status, attempt, run FROM executions WHERE id = :id;

-- name: run_again
UPDATE executions
   SET status = 'pending', wake_at = :wake_at, waiting_for = NULL, attempt = :attempt,
       run = :run, error = coalesce(:error, error), output = NULL, record_status = NULL,
       awaited = CASE WHEN :rerun THEN 0 ELSE awaited END,
       token = token + 1, owner = NULL, updated_at = :now
 WHERE id = :id;

-- Seqs go on counting across runs (they key the log): seq keeps the highest given.
-- name: continue_run
UPDATE executions
   SET status = 'pending', wake_at = :wake_at, waiting_for = NULL, attempt = 0, run = :run,
       input = :input, state = NULL, error = NULL, output = NULL, owner = NULL,
       updated_at = :now,
       seq = max(seq, (SELECT coalesce(max(s.seq), 0) FROM steps s
                        WHERE s.key BETWEEN num << 32 AND (num << 32) + 4294967295))
 WHERE id = :id;

-- name: drop_old_runs
DELETE FROM steps
 WHERE key BETWEEN :num << 32 AND (:num << 32) + 4294967295 AND run < :oldest_kept;

-- name: consume_message
UPDATE messages SET consumed = 1 WHERE id = :message AND execution_id = :id;

-- name: set_state
UPDATE executions SET state = :state WHERE id = :id;

-- name: mark_awaited
UPDATE executions SET awaited = 1
 WHERE parent_id = :id AND parent_step IN (SELECT value FROM json_each(:names))
RETURNING record_status;

-- name: event_there
SELECT 1 FROM events WHERE execution_id = :id AND name = :name;

-- name: message_there
SELECT 1 FROM messages WHERE execution_id = :id AND topic = :topic AND consumed = 0 LIMIT 1;

-- name: set_row
UPDATE executions
   SET status = :status, wake_at = :wake_at, waiting_for = :waiting_for, owner = NULL,
       updated_at = :now
 WHERE id = :id;

-- name: stall
UPDATE executions
   SET status = 'stalled', wake_at = NULL, waiting_for = NULL, owner = NULL, error = :error,
       updated_at = :now
 WHERE id = :id;

-- name: end_execution
UPDATE executions
   SET status = :status, record_status = :record_status, output = :output, error = :error,
       wake_at = NULL, waiting_for = NULL, owner = NULL, updated_at = :now
 WHERE id = :id
RETURNING parent_id, awaited;

-- A parent waiting on its children becomes due once none it awaits is open.
-- name: wake_parent
UPDATE executions
   SET status = 'pending', wake_at = :now, waiting_for = NULL, updated_at = :now
 WHERE id = :parent AND status = 'waiting' AND waiting_for = 'children'
   AND NOT EXISTS (SELECT 1 FROM executions c
                    WHERE c.parent_id = :parent AND c.awaited = 1 AND c.record_status IS NULL);

-- Only the parents waiting on children, from their own partial index.
-- SQLite's planner would rather read every waiting row through
-- executions_status, with or without ANALYZE; INDEXED BY holds it to the
-- small index (and fails loudly should that index go).
-- name: wake_stranded
UPDATE executions INDEXED BY executions_waiting_children
   SET status = 'pending', wake_at = :now, waiting_for = NULL, updated_at = :now
 WHERE status = 'waiting' AND waiting_for = 'children'
   AND NOT EXISTS (SELECT 1 FROM executions c
                    WHERE c.parent_id = executions.id AND c.awaited = 1
                      AND c.record_status IS NULL);

-- name: heartbeat
UPDATE executions SET wake_at = :until
 WHERE id = :id AND status = 'running' AND token = :token;

-- name: release
UPDATE executions
   SET status = 'pending', wake_at = :now, owner = NULL, updated_at = :now
 WHERE id = :id AND status = 'running' AND token = :token;

-- name: insert_event
INSERT INTO events (execution_id, name, payload, created_at)
VALUES (:id, :name, :payload, :now)
ON CONFLICT (execution_id, name) DO NOTHING;

-- name: wake_on
UPDATE executions SET status = 'pending', wake_at = :now, waiting_for = NULL, updated_at = :now
 WHERE id = :id AND status = 'waiting' AND waiting_for = :waiting_for;

-- The message a send with this idempotency key stored before, if any.
-- name: message_by_key
SELECT id, topic FROM messages WHERE execution_id = :id AND idempotency_key = :key;

-- name: insert_message
INSERT INTO messages (execution_id, topic, payload, created_at, idempotency_key)
VALUES (:id, :topic, :payload, :now, :key)
RETURNING id;

-- An execution and its unfinished descendants; a final child's subtree is left alone.
-- name: unfinished_tree
WITH RECURSIVE tree (id) AS (
    VALUES (:id)
    UNION
    SELECT e.id FROM executions e JOIN tree ON e.parent_id = tree.id
     WHERE e.status NOT IN ('completed', 'failed', 'cancelled')
)
SELECT id FROM tree;

-- name: cancel_row
UPDATE executions
   SET status = 'cancelled', record_status = :record_status, token = token + 1, owner = NULL,
       wake_at = NULL, waiting_for = NULL, output = NULL, error = :error, updated_at = :now
 WHERE id = :id
RETURNING parent_id, awaited;

-- Listing, newest first. A status, a task or both select an index each
-- whose order is the listing's (ending in created_at, id): a page is one
-- index walk, with no sort. A parent or an id prefix drives its own index,
-- and the other filters are checked on the rows it finds.

-- name: list_all
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_by_status
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 WHERE status = :status
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_by_task
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 WHERE task_name = :task
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_by_status_and_task
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 WHERE task_name = :task AND status = :status
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_by_parent
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 WHERE parent_id = :parent_id
   AND (:status IS NULL OR status = :status) AND (:task IS NULL OR task_name = :task)
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_by_search
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM executions
 WHERE id >= :search AND id < :search || char(1114111)
   AND (:status IS NULL OR status = :status) AND (:task IS NULL OR task_name = :task)
   AND (:parent_id IS NULL OR parent_id = :parent_id)
 ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: counts
SELECT status, count(*) FROM executions GROUP BY status;

-- name: counts_of_task
SELECT status, count(*) FROM executions WHERE task_name = :task GROUP BY status;

-- name: status_counts
SELECT task_name, status, count(*) FROM executions GROUP BY task_name, status;

-- Live workers: each records itself, beats, and leaves; a row past
-- expires_at is a dead worker, dropped a day later.
-- name: drop_dead_workers
DELETE FROM workers WHERE expires_at < :gone;

-- name: register_worker
INSERT INTO workers (id, host, pid, tasks, concurrency, started_at, heartbeat_at, expires_at,
                     inflight)
VALUES (:id, :host, :pid, :tasks, :concurrency, :now, :now, :expires_at, :inflight)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, tasks = excluded.tasks,
    concurrency = excluded.concurrency, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
    inflight = excluded.inflight;

-- name: beat_worker
UPDATE workers SET heartbeat_at = :now, expires_at = :expires_at, inflight = :inflight
 WHERE id = :id;

-- name: remove_worker
DELETE FROM workers WHERE id = :id;

-- name: workers
SELECT id, host, pid, tasks, concurrency, started_at, heartbeat_at, expires_at, inflight
  FROM workers ORDER BY id;

-- A record copied into a new execution's log (a fork): no lease to fence.
-- name: insert_record
INSERT INTO steps (key, execution_id, run, name, seq, kind, status, step, result, error, attempts,
                   errors, wake_at, child_id, execution_attempt, started_at, created_at,
                   updated_at)
SELECT (num << 32) + :seq, id, run, :name, :seq, :kind, :status, :step, :result, :error,
       :attempts, :errors, :wake_at, :child_id, :execution_attempt, :started_at, :now, :now
  FROM executions WHERE id = :id;

-- name: set_seq
UPDATE executions SET seq = :seq WHERE id = :id;

-- Recurring schedules ---------------------------------------------------------

-- name: insert_schedule
INSERT INTO schedules (id, task_name, input, cron, every_us, timezone, overlap, catchup_us,
                       jitter_us, paused, next_tick, next_fire_at, last_tick, last_execution_id,
                       buffered_tick, created_at, updated_at)
VALUES (:id, :task_name, :input, :cron, :every_us, :timezone, :overlap, :catchup_us, :jitter_us,
        :paused, :next_tick, :next_fire_at, :last_tick, :last_execution_id, :buffered_tick,
        :created_at, :updated_at)
ON CONFLICT (id) DO NOTHING;

-- name: get_schedule
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM schedules WHERE id = :id;

-- name: list_schedules
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM schedules ORDER BY id;

-- What a firing, a pause or a trigger changes.
-- name: update_schedule
UPDATE schedules
   SET paused = :paused, next_tick = :next_tick, next_fire_at = :next_fire_at,
       last_tick = :last_tick, last_execution_id = :last_execution_id,
       buffered_tick = :buffered_tick, updated_at = :updated_at
 WHERE id = :id;

-- name: delete_schedule
DELETE FROM schedules WHERE id = :id;

-- name: due_schedules
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM schedules
 WHERE paused = 0 AND next_fire_at <= :now
   AND (:tasks IS NULL OR task_name IN (SELECT value FROM json_each(:tasks)))
 ORDER BY next_fire_at LIMIT :limit;

-- name: next_schedule_fire
SELECT min(next_fire_at) FROM schedules
 WHERE paused = 0 AND (:tasks IS NULL OR task_name IN (SELECT value FROM json_each(:tasks)));
