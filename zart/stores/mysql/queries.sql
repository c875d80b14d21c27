-- zart on MySQL/MariaDB: every statement the store runs, by name.
-- Parameters are named (%(name)s) and interpolated by the driver as escaped
-- literals; a tuple becomes a parenthesized list (never an empty one: the
-- store does not send a statement with nothing to list). Tables are
-- placeholders (see schema.sql). Times are parameters too: the store's
-- clock is the server's (see the store). An operation sends its statements
-- together, in one round trip (connection.send).

-- name: session_isolation
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;

-- Strict: a value that does not fit is an error, never truncated; no
-- silent engine substitution (every table is InnoDB: transactions, row locks).
-- name: session_mode
SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO',
            time_zone = '+00:00';

-- name: begin
START TRANSACTION;

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;

-- name: server_version
SELECT VERSION();

-- name: server_time
SELECT UTC_TIMESTAMP(6);

-- Migrations take turns under a named lock of the server (GET_LOCK names
-- are server-wide: the key names the database). Session-level: released
-- by migration_unlock, or when the connection closes.
-- name: migration_lock
SELECT GET_LOCK(%(key)s, %(seconds)s);

-- name: migration_unlock
SELECT RELEASE_LOCK(%(key)s);

-- name: version_table
CREATE TABLE IF NOT EXISTS {schema_version} (
    version    INT         NOT NULL PRIMARY KEY,
    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

-- name: current_version
SELECT COALESCE(MAX(version), 0) FROM {schema_version};

-- name: has_executions_table
SELECT COUNT(*) FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %(table)s;

-- name: record_version
INSERT INTO {schema_version} (version) VALUES (%(version)s);

-- name: create
INSERT INTO {executions}
    (id, task_name, kind, status, input, parent_id, parent_step, root_id,
     created_at, updated_at, wake_at, format_version, trace)
VALUES (%(id)s, %(task_name)s, %(kind)s, 'pending', %(input)s, %(parent_id)s, %(parent_step)s,
        %(root_id)s, %(now)s, %(now)s, %(now)s, %(format_version)s, %(trace)s);

-- name: create_leased
INSERT INTO {executions}
    (id, task_name, kind, status, input, parent_id, parent_step, root_id,
     created_at, updated_at, wake_at, token, owner, format_version, trace)
VALUES (%(id)s, %(task_name)s, %(kind)s, 'running', %(input)s, %(parent_id)s, %(parent_step)s,
        %(root_id)s, %(now)s, %(now)s, %(until)s, 1, %(worker)s, %(format_version)s, %(trace)s);

-- name: get
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions} WHERE id = %(id)s;

-- name: status_of
SELECT status, token FROM {executions} WHERE id = %(id)s;

-- name: lock_status
SELECT status FROM {executions} WHERE id = %(id)s FOR UPDATE;

-- Claims: lock the oldest due rows nobody else holds; SKIP LOCKED makes
-- concurrent claimers pass each other by. READ COMMITTED: only the rows
-- returned stay locked, no gaps. A worker serving some tasks claims task by
-- task, one due_of_task each (in one round trip), up to :limit rows each,
-- and takes the oldest :limit of those (the others are let go at COMMIT):
-- one range over all its tasks (task_name IN ...) has no claim order, and
-- would lock every due row of its tasks before sorting them. The index is
-- forced: when most rows are due, the optimizer would rather scan and sort
-- the table, locking every due row on its way, where walking the index in
-- claim order stops (and locks no more) after :limit rows.

-- name: due
SELECT id, wake_at, created_at, row_order FROM {executions} FORCE INDEX ({name_executions_due})
 WHERE wake_at <= %(now)s AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, row_order
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: due_of_task
SELECT id, wake_at, created_at, row_order FROM {executions}
  FORCE INDEX ({name_executions_task_due})
 WHERE task_name = %(task)s AND wake_at <= %(now)s
   AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, row_order
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: due_in_tree
SELECT id, wake_at, created_at, row_order FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s)
   AND wake_at <= %(now)s AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, row_order
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: due_of_tasks_in_tree
SELECT id, wake_at, created_at, row_order FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s) AND task_name IN %(tasks)s
   AND wake_at <= %(now)s AND status NOT IN ('completed', 'failed', 'cancelled')
 ORDER BY wake_at, created_at, row_order
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: take
UPDATE {executions}
   SET status = 'running', token = token + 1, owner = %(worker)s, wake_at = %(until)s,
       waiting_for = NULL, updated_at = %(now)s
 WHERE id IN %(ids)s;

-- The rows taken, the server's time, and whether each has a log at all (a
-- new execution has none: no record, no event, no message).
-- name: taken
SELECT e.id, e.task_name, e.kind, e.status, e.input, e.output, e.error, e.state, e.attempt,
       e.run, e.parent_id, e.parent_step, e.root_id, e.created_at, e.updated_at, e.wake_at,
       e.waiting_for, e.format_version, e.trace, e.token, e.seq, UTC_TIMESTAMP(6),
       EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id AND x.run = e.run)
       OR EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id)
       OR EXISTS (SELECT 1 FROM {messages} m
                   WHERE m.execution_id = e.id AND NOT m.consumed)
  FROM {executions} e WHERE e.id IN %(ids)s;

-- When the next claimable execution comes due. A row with a wake_at is
-- never final (every final outcome clears it), which lets the per-task
-- form be one probe of executions_task_due per task.
-- name: next_wake
SELECT MIN(wake_at) FROM {executions} WHERE wake_at IS NOT NULL;

-- name: next_wake_of_tasks
SELECT MIN(first) FROM (
    SELECT MIN(wake_at) AS first FROM {executions}
     WHERE task_name IN %(tasks)s AND wake_at IS NOT NULL
     GROUP BY task_name
) AS heads;

-- name: next_wake_in_tree
SELECT MIN(wake_at) FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s) AND wake_at IS NOT NULL;

-- name: next_wake_of_tasks_in_tree
SELECT MIN(wake_at) FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s) AND task_name IN %(tasks)s
   AND wake_at IS NOT NULL;

-- Task names with due executions: one probe per name (a loose scan of
-- executions_task_due); the store leaves out those a handler covers.
-- name: due_tasks
SELECT DISTINCT task_name FROM {executions} WHERE wake_at <= %(now)s ORDER BY task_name;

-- The log of the current run of each execution: each schedule record
-- reads as its child's row once the child ended (a finishing child writes
-- only its own row).
-- name: load_records
SELECT x.execution_id, x.name, x.kind, COALESCE(c.record_status, x.status), x.seq, x.step,
       CASE WHEN c.record_status IS NULL THEN x.result ELSE c.output END,
       CASE WHEN c.record_status IS NULL THEN x.error ELSE c.error END,
       x.attempts, x.errors, x.wake_at, x.child_id, x.execution_attempt, x.started_at,
       x.created_at,
       CASE WHEN c.record_status IS NULL THEN x.updated_at ELSE c.updated_at END
  FROM {executions} e
  JOIN {records} x ON x.execution_id = e.id AND x.run = e.run
  LEFT JOIN {executions} c ON c.id = x.child_id AND c.record_status IS NOT NULL
 WHERE e.id IN %(ids)s
 ORDER BY x.execution_id, x.seq;

-- The same for one run of one execution.
-- name: load_run_records
SELECT x.execution_id, x.name, x.kind, COALESCE(c.record_status, x.status), x.seq, x.step,
       CASE WHEN c.record_status IS NULL THEN x.result ELSE c.output END,
       CASE WHEN c.record_status IS NULL THEN x.error ELSE c.error END,
       x.attempts, x.errors, x.wake_at, x.child_id, x.execution_attempt, x.started_at,
       x.created_at,
       CASE WHEN c.record_status IS NULL THEN x.updated_at ELSE c.updated_at END
  FROM {records} x
  LEFT JOIN {executions} c ON c.id = x.child_id AND c.record_status IS NOT NULL
 WHERE x.execution_id = %(id)s AND x.run = %(run)s
 ORDER BY x.seq;

-- name: load_events
SELECT execution_id, name, payload FROM {events}
 WHERE execution_id IN %(ids)s ORDER BY execution_id, row_order;

-- name: load_messages
SELECT execution_id, id, topic, payload FROM {messages}
 WHERE execution_id IN %(ids)s AND NOT consumed ORDER BY execution_id, id;

-- name: load_head
SELECT run, seq FROM {executions} WHERE id = %(id)s;

-- A record, upserted while the lease holds: the execution row is read with
-- a lock (status running and the same token), so no claim or cancel can
-- slip between the check and the write; when the lease no longer holds,
-- nothing is selected and nothing written (the row count says 0). Alone in
-- autocommit it is a step's whole commit; in a commit's transaction the
-- lock is already held. A known name keeps its seq and created_at.
-- name: write_record
INSERT INTO {records}
    (execution_id, run, name, seq, kind, status, step, result, error, attempts, errors, wake_at,
     child_id, execution_attempt, started_at, created_at, updated_at)
SELECT id, run, %(name)s, %(seq)s, %(kind)s, %(status)s, %(step)s, %(result)s, %(error)s,
       %(attempts)s, %(errors)s, %(wake_at)s, %(child_id)s, %(execution_attempt)s,
       %(started_at)s, %(now)s, %(now)s
  FROM {executions}
 WHERE id = %(id)s AND status = 'running' AND token = %(token)s
   FOR UPDATE
ON DUPLICATE KEY UPDATE
    kind = VALUES(kind), status = VALUES(status), step = VALUES(step),
    result = VALUES(result), error = VALUES(error), attempts = VALUES(attempts),
    errors = VALUES(errors), wake_at = VALUES(wake_at), child_id = VALUES(child_id),
    execution_attempt = VALUES(execution_attempt), started_at = VALUES(started_at),
    updated_at = VALUES(updated_at);

-- The lease, checked and locked for the rest of a commit's transaction;
-- no row when it no longer holds.
-- name: fence
SELECT run, attempt, parent_id, awaited FROM {executions}
 WHERE id = %(id)s AND status = 'running' AND token = %(token)s
   FOR UPDATE;

-- A child, inserted unless its id exists (a replayed schedule).
-- name: insert_child
INSERT INTO {executions}
    (id, task_name, kind, status, input, parent_id, parent_step, root_id, created_at,
     updated_at, wake_at, format_version, trace)
VALUES (%(id)s, %(task_name)s, %(kind)s, 'pending', %(input)s, %(parent_id)s, %(parent_step)s,
        %(root_id)s, %(now)s, %(now)s, %(now)s, %(format_version)s, %(trace)s)
ON DUPLICATE KEY UPDATE id = id;

-- name: rerun_facts
SELECT id, status, attempt, run FROM {executions}
 WHERE id IN %(ids)s ORDER BY id FOR UPDATE;

-- name: run_again
UPDATE {executions}
   SET status = 'pending', wake_at = %(wake_at)s, waiting_for = NULL, attempt = %(attempt)s,
       run = %(run)s, error = COALESCE(%(error)s, error), output = NULL,
       record_status = NULL, awaited = CASE WHEN %(rerun)s THEN FALSE ELSE awaited END,
       token = token + 1, owner = NULL, updated_at = %(now)s
 WHERE id = %(id)s;

-- Seqs go on counting across runs: seq keeps the highest given.
-- name: continue_run
UPDATE {executions} e
   SET e.status = 'pending', e.wake_at = %(wake_at)s, e.waiting_for = NULL, e.attempt = 0,
       e.run = %(run)s, e.input = %(input)s, e.state = NULL, e.error = NULL, e.output = NULL,
       e.owner = NULL, e.updated_at = %(now)s,
       e.seq = GREATEST(e.seq, (SELECT COALESCE(MAX(x.seq), 0) FROM {records} x
                                 WHERE x.execution_id = %(id)s))
 WHERE e.id = %(id)s;

-- name: drop_old_runs
DELETE FROM {records} WHERE execution_id = %(id)s AND run < %(oldest_kept)s;

-- name: consume_messages
UPDATE {messages} SET consumed = TRUE WHERE id IN %(messages)s AND execution_id = %(id)s;

-- name: set_state
UPDATE {executions} SET state = %(state)s WHERE id = %(id)s;

-- Marking awaited children takes their row locks: a child finishing at the
-- same time either committed first (awaited_children reads its
-- record_status, after the lock) or waits, and then sees awaited and this
-- parent waiting.
-- name: mark_awaited
UPDATE {executions} SET awaited = TRUE WHERE parent_id = %(id)s AND parent_step IN %(names)s;

-- name: awaited_children
SELECT record_status FROM {executions} WHERE parent_id = %(id)s AND parent_step IN %(names)s;

-- name: event_there
SELECT EXISTS (SELECT 1 FROM {events} WHERE execution_id = %(id)s AND name = %(name)s);

-- name: message_there
SELECT EXISTS (SELECT 1 FROM {messages}
                WHERE execution_id = %(id)s AND NOT consumed AND topic = %(topic)s);

-- name: set_row
UPDATE {executions}
   SET status = %(status)s, wake_at = %(wake_at)s, waiting_for = %(waiting_for)s, owner = NULL,
       updated_at = %(now)s
 WHERE id = %(id)s;

-- name: stall
UPDATE {executions}
   SET status = 'stalled', wake_at = NULL, waiting_for = NULL, owner = NULL,
       error = %(error)s, updated_at = %(now)s
 WHERE id = %(id)s;

-- Fenced like write_record, so a commit can send it in the same round
-- trip as the fence that decides whether it applies.
-- name: end_execution
UPDATE {executions}
   SET status = %(status)s, record_status = %(record_status)s, output = %(output)s,
       error = %(error)s, wake_at = NULL, waiting_for = NULL, owner = NULL,
       updated_at = %(now)s,
       state = CASE WHEN %(has_state)s THEN %(state)s ELSE state END
 WHERE id = %(id)s AND status = 'running' AND token = %(token)s;

-- A parent waiting on its children becomes due once none it awaits is
-- open. A statement of its own, after the child's COMMIT: it reads the
-- siblings as committed then (a locking read: one whose commit is under
-- way is waited for). The self-join stands where a subquery on the table
-- being updated is not allowed.
-- name: wake_parent
UPDATE {executions} p
  LEFT JOIN {executions} c ON c.parent_id = p.id AND c.awaited AND c.record_status IS NULL
   SET p.status = 'pending', p.wake_at = %(now)s, p.waiting_for = NULL, p.updated_at = %(now)s
 WHERE p.id = %(parent)s AND p.status = 'waiting' AND p.waiting_for = 'children'
   AND c.id IS NULL;

-- The same, given the child, in two statements: a no-op unless its parent
-- awaits it. The count of open awaited siblings is a plain read (no locks:
-- siblings finishing at the same time do not queue on each other); the
-- later of two last siblings counts after both committed, so one of them
-- wakes the parent, and a second wake-up finds it no longer waiting.
-- name: open_siblings
SELECT COUNT(*) INTO @zart_open_siblings
  FROM {executions} me
  JOIN {executions} c ON c.parent_id = me.parent_id AND c.awaited AND c.record_status IS NULL
 WHERE me.id = %(id)s AND me.awaited;

-- name: wake_parent_of
UPDATE {executions} p
  JOIN {executions} me ON me.id = %(id)s AND me.parent_id = p.id AND me.awaited
   SET p.status = 'pending', p.wake_at = %(now)s, p.waiting_for = NULL, p.updated_at = %(now)s
 WHERE p.status = 'waiting' AND p.waiting_for = 'children' AND @zart_open_siblings = 0;

-- name: wake_stranded
UPDATE {executions} p
  LEFT JOIN {executions} c ON c.parent_id = p.id AND c.awaited AND c.record_status IS NULL
   SET p.status = 'pending', p.wake_at = %(now)s, p.waiting_for = NULL, p.updated_at = %(now)s
 WHERE p.status = 'waiting' AND p.waiting_for = 'children' AND c.id IS NULL;

-- name: heartbeat
UPDATE {executions} SET wake_at = %(until)s
 WHERE status = 'running' AND (id, token) IN %(leases)s;

-- name: held
SELECT id, token, UTC_TIMESTAMP(6) FROM {executions}
 WHERE status = 'running' AND (id, token) IN %(leases)s;

-- name: release
UPDATE {executions}
   SET status = 'pending', wake_at = %(now)s, owner = NULL, updated_at = %(now)s
 WHERE id = %(id)s AND status = 'running' AND token = %(token)s;

-- name: insert_event
INSERT INTO {events} (execution_id, name, payload, created_at)
VALUES (%(id)s, %(name)s, %(payload)s, %(now)s);

-- name: wake_on
UPDATE {executions}
   SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
 WHERE id = %(id)s AND status = 'waiting' AND waiting_for = %(waiting_for)s;

-- The message a send with this idempotency key stored before, if any.
-- name: message_by_key
SELECT id, topic FROM {messages} WHERE execution_id = %(id)s AND idempotency_key = %(key)s;

-- name: insert_message
INSERT INTO {messages} (execution_id, topic, payload, created_at, idempotency_key)
VALUES (%(id)s, %(topic)s, %(payload)s, %(now)s, %(key)s);

-- name: message_id
SELECT LAST_INSERT_ID();

-- An execution and its unfinished descendants (a finished child's subtree
-- is left alone), locked in id order so that two cancels of overlapping
-- trees queue up instead of deadlocking.
-- name: lock_tree
WITH RECURSIVE tree AS (
    SELECT id, status FROM {executions} WHERE id = %(id)s
    UNION ALL
    SELECT c.id, c.status FROM {executions} c JOIN tree t ON c.parent_id = t.id
     WHERE t.status NOT IN ('completed', 'failed', 'cancelled')
       AND c.status NOT IN ('completed', 'failed', 'cancelled')
)
SELECT e.id, e.status, e.parent_id, e.awaited FROM {executions} e JOIN tree ON tree.id = e.id
 ORDER BY e.id FOR UPDATE;

-- name: cancel_rows
UPDATE {executions}
   SET status = 'cancelled', record_status = %(record_status)s, token = token + 1, owner = NULL,
       wake_at = NULL, waiting_for = NULL, output = NULL, error = %(error)s,
       updated_at = %(now)s
 WHERE id IN %(ids)s AND status NOT IN ('completed', 'failed', 'cancelled');

-- Listing, newest first. A status, a task or both select an index each
-- whose order is the listing's (ending in created_at, id). A parent or an
-- id prefix drives its own index, and the other filters are checked on the
-- rows it finds.

-- name: list_all
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_status
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE status = %(status)s
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_task
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE task_name = %(task)s
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_status_and_task
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE task_name = %(task)s AND status = %(status)s
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_parent
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE parent_id = %(parent_id)s
   AND (%(status)s IS NULL OR status = %(status)s)
   AND (%(task)s IS NULL OR task_name = %(task)s)
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- An id prefix: :pattern is the prefix with \, % and _ escaped, then %.
-- name: list_by_search
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE id LIKE %(pattern)s
   AND (%(status)s IS NULL OR status = %(status)s)
   AND (%(task)s IS NULL OR task_name = %(task)s)
   AND (%(parent_id)s IS NULL OR parent_id = %(parent_id)s)
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: counts
SELECT status, COUNT(*) FROM {executions} GROUP BY status;

-- name: counts_of_task
SELECT status, COUNT(*) FROM {executions} WHERE task_name = %(task)s GROUP BY status;

-- name: status_counts
SELECT task_name, status, COUNT(*) FROM {executions} GROUP BY task_name, status;

-- Live workers: each records itself, beats, and leaves; a row past
-- expires_at is a dead worker, dropped a day later.
-- name: drop_dead_workers
DELETE FROM {workers} WHERE expires_at < %(gone)s;

-- name: register_worker
INSERT INTO {workers} (id, host, pid, tasks, concurrency, started_at, heartbeat_at, expires_at,
                       inflight)
VALUES (%(id)s, %(host)s, %(pid)s, %(tasks)s, %(concurrency)s, %(now)s, %(now)s,
        %(expires_at)s, %(inflight)s)
ON DUPLICATE KEY UPDATE
    host = VALUES(host), pid = VALUES(pid), tasks = VALUES(tasks),
    concurrency = VALUES(concurrency), started_at = VALUES(started_at),
    heartbeat_at = VALUES(heartbeat_at), expires_at = VALUES(expires_at),
    inflight = VALUES(inflight);

-- name: beat_worker
UPDATE {workers} SET heartbeat_at = %(now)s, expires_at = %(expires_at)s, inflight = %(inflight)s
 WHERE id = %(id)s;

-- name: remove_worker
DELETE FROM {workers} WHERE id = %(id)s;

-- name: workers
SELECT id, host, pid, tasks, concurrency, started_at, heartbeat_at, expires_at, inflight
  FROM {workers} ORDER BY id;

-- A record copied into a new execution's log (a fork): no lease to fence.
-- name: insert_record
INSERT INTO {records}
    (execution_id, run, name, seq, kind, status, step, result, error, attempts, errors, wake_at,
     child_id, execution_attempt, started_at, created_at, updated_at)
VALUES (%(id)s, 1, %(name)s, %(seq)s, %(kind)s, %(status)s, %(step)s, %(result)s, %(error)s,
        %(attempts)s, %(errors)s, %(wake_at)s, %(child_id)s, %(execution_attempt)s,
        %(started_at)s, %(now)s, %(now)s);

-- name: set_seq
UPDATE {executions} SET seq = %(seq)s WHERE id = %(id)s;

-- Wake-ups (wake.py). An idle waiter blocks in wait on a connection of its
-- own: it returns at once (1) when the bell rang since the waiter last
-- read it (:seen), else sleeps up to :seconds (0) unless a ringer's KILL
-- QUERY ends it first (error 1317). Its first words mark it in the process
-- list: keep them first, as wake.py matches them.
-- name: wait
SELECT /* zart-wait:{channel} */ IF(b.rung = %(seen)s, SLEEP(%(seconds)s), 1), b.rung
  FROM (SELECT COALESCE(MAX(rung), 0) AS rung FROM {bell} WHERE id = 1) AS b;

-- name: bell
SELECT COALESCE(MAX(rung), 0) FROM {bell} WHERE id = 1;

-- name: ring
INSERT INTO {bell} (id, rung) VALUES (1, 1) ON DUPLICATE KEY UPDATE rung = rung + 1;

-- The waiters sleeping in this store's wait statement now (without the
-- PROCESS privilege, a user sees, and may kill, only its own connections).
-- name: waiters
SELECT ID FROM information_schema.PROCESSLIST
 WHERE COMMAND = 'Query' AND LEFT(INFO, %(length)s) = %(head)s AND ID <> CONNECTION_ID();

-- name: wake_waiter
KILL QUERY %(id)s;

-- Recurring schedules (schedules.py). Durations are microseconds.

-- name: insert_schedule
INSERT INTO {schedules}
    (id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
     next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at, updated_at)
VALUES (%(id)s, %(task_name)s, %(input)s, %(cron)s, %(every_us)s, %(timezone)s, %(overlap)s,
        %(catchup_us)s, %(jitter_us)s, %(paused)s, %(next_tick)s, %(next_fire_at)s,
        %(last_tick)s, %(last_execution_id)s, %(buffered_tick)s, %(created_at)s, %(updated_at)s);

-- name: get_schedule
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules} WHERE id = %(id)s;

-- name: lock_schedule
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules} WHERE id = %(id)s FOR UPDATE;

-- name: list_schedules
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules} ORDER BY id;

-- What a firing, a pause or a trigger changes.
-- name: update_schedule
UPDATE {schedules}
   SET paused = %(paused)s, next_tick = %(next_tick)s, next_fire_at = %(next_fire_at)s,
       last_tick = %(last_tick)s, last_execution_id = %(last_execution_id)s,
       buffered_tick = %(buffered_tick)s, updated_at = %(updated_at)s
 WHERE id = %(id)s;

-- name: delete_schedule
DELETE FROM {schedules} WHERE id = %(id)s;

-- Due schedules nobody else is firing; each is fired in this transaction.
-- name: due_schedules
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules}
 WHERE NOT paused AND next_fire_at <= %(now)s
 ORDER BY next_fire_at LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: due_schedules_of_tasks
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules}
 WHERE NOT paused AND next_fire_at <= %(now)s AND task_name IN %(tasks)s
 ORDER BY next_fire_at LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: next_schedule_fire
SELECT MIN(next_fire_at) FROM {schedules} WHERE NOT paused;

-- name: next_schedule_fire_of_tasks
SELECT MIN(next_fire_at) FROM {schedules} WHERE NOT paused AND task_name IN %(tasks)s;
