-- zart on PostgreSQL: every statement the store runs, by name.
-- Parameters are named (%(name)s); tables are placeholders (see schema.sql).
-- Times are parameters too: the store's clock is the server's (see the store).

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema};

-- name: version_table
CREATE TABLE IF NOT EXISTS {schema_version} (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: current_version
SELECT coalesce(max(version), 0) FROM {schema_version};

-- name: has_executions_table
SELECT to_regclass(%(table)s) IS NOT NULL;

-- name: record_version
INSERT INTO {schema_version} (version) VALUES (%(version)s);

-- name: migration_lock
SELECT pg_advisory_xact_lock(%(key)s);

-- name: server_time
SELECT clock_timestamp();

-- name: notify
SELECT pg_notify(%(channel)s, '');

-- name: create
WITH created AS (
    INSERT INTO {executions}
        (id, task_name, kind, status, input, parent_id, parent_step, root_id,
         created_at, updated_at, wake_at, format_version, trace)
    VALUES (%(id)s, %(task_name)s, %(kind)s, 'pending', %(input)s::json, %(parent_id)s::text,
            %(parent_step)s::text, %(root_id)s::text, %(now)s, %(now)s, %(now)s,
            %(format_version)s, %(trace)s::json)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
              parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
)
SELECT created.*, pg_notify(%(channel)s, '') FROM created;

-- name: create_leased
INSERT INTO {executions}
    (id, task_name, kind, status, input, parent_id, parent_step, root_id,
     created_at, updated_at, wake_at, token, owner, format_version, trace)
VALUES (%(id)s, %(task_name)s, %(kind)s, 'running', %(input)s::json, %(parent_id)s::text,
        %(parent_step)s::text, %(root_id)s::text, %(now)s, %(now)s, %(until)s, 1, %(worker)s,
        %(format_version)s, %(trace)s::json)
ON CONFLICT (id) DO NOTHING
RETURNING id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
          parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace;

-- name: get
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions} WHERE id = %(id)s;

-- name: status_of
SELECT status, token FROM {executions} WHERE id = %(id)s;

-- Whom an execution's end may wake: its parent, and whether it awaits it.
-- name: parent_of
SELECT parent_id, awaited FROM {executions} WHERE id = %(id)s;

-- name: lock_status
SELECT status FROM {executions} WHERE id = %(id)s FOR UPDATE;

-- Claims: lock the oldest due rows nobody else holds and take them, in one
-- statement. SKIP LOCKED makes concurrent claimers pass each other by. Four
-- shapes, so that each can use its index.

-- name: claim
WITH due AS (
    SELECT id, wake_at AS due_at FROM {executions}
     WHERE wake_at <= %(now)s AND status <> ALL(%(final)s)
     ORDER BY wake_at, created_at, row_order
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE {executions} e
   SET status = 'running', token = e.token + 1, owner = %(worker)s, wake_at = %(until)s,
       waiting_for = NULL, updated_at = %(now)s
  FROM due WHERE e.id = due.id
RETURNING e.id, e.task_name, e.kind, e.status, e.input, e.output, e.error, e.state, e.attempt,
          e.run, e.parent_id, e.parent_step, e.root_id, e.created_at, e.updated_at, e.wake_at,
          e.waiting_for, e.format_version, e.trace, e.token, e.seq, e.row_order, due.due_at,
          clock_timestamp(),
          EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id AND x.run = e.run)
          OR EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id)
          OR EXISTS (SELECT 1 FROM {messages} m WHERE m.execution_id = e.id AND NOT m.consumed);

-- A worker serving some tasks walks each task's own range of
-- executions_task_due in claim order, locking up to :limit rows each, and
-- takes the oldest :limit of those; the others are let go when the
-- statement ends. One range over all its tasks (task_name = ANY(...)) has
-- no claim order: the plan would read and sort every due row of its
-- tasks, or (the generic plan of the prepared statement) walk
-- executions_due through the backlogs of tasks it does not serve.
-- name: claim_of_tasks
WITH due AS (
    SELECT d.id, d.due_at FROM (SELECT DISTINCT unnest(%(tasks)s::text[])) AS t (name)
     CROSS JOIN LATERAL (
         SELECT id, wake_at AS due_at, created_at, row_order FROM {executions}
          WHERE task_name = t.name AND wake_at <= %(now)s AND status <> ALL(%(final)s)
          ORDER BY wake_at, created_at, row_order
          LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
     ) AS d
     ORDER BY d.due_at, d.created_at, d.row_order
     LIMIT %(limit)s
)
UPDATE {executions} e
   SET status = 'running', token = e.token + 1, owner = %(worker)s, wake_at = %(until)s,
       waiting_for = NULL, updated_at = %(now)s
  FROM due WHERE e.id = due.id
RETURNING e.id, e.task_name, e.kind, e.status, e.input, e.output, e.error, e.state, e.attempt,
          e.run, e.parent_id, e.parent_step, e.root_id, e.created_at, e.updated_at, e.wake_at,
          e.waiting_for, e.format_version, e.trace, e.token, e.seq, e.row_order, due.due_at,
          clock_timestamp(),
          EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id AND x.run = e.run)
          OR EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id)
          OR EXISTS (SELECT 1 FROM {messages} m WHERE m.execution_id = e.id AND NOT m.consumed);

-- name: claim_in_tree
WITH due AS (
    SELECT id, wake_at AS due_at FROM {executions}
     WHERE (id = %(under)s OR root_id = %(under)s)
       AND wake_at <= %(now)s AND status <> ALL(%(final)s)
     ORDER BY wake_at, created_at, row_order
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE {executions} e
   SET status = 'running', token = e.token + 1, owner = %(worker)s, wake_at = %(until)s,
       waiting_for = NULL, updated_at = %(now)s
  FROM due WHERE e.id = due.id
RETURNING e.id, e.task_name, e.kind, e.status, e.input, e.output, e.error, e.state, e.attempt,
          e.run, e.parent_id, e.parent_step, e.root_id, e.created_at, e.updated_at, e.wake_at,
          e.waiting_for, e.format_version, e.trace, e.token, e.seq, e.row_order, due.due_at,
          clock_timestamp(),
          EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id AND x.run = e.run)
          OR EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id)
          OR EXISTS (SELECT 1 FROM {messages} m WHERE m.execution_id = e.id AND NOT m.consumed);

-- name: claim_of_tasks_in_tree
WITH due AS (
    SELECT id, wake_at AS due_at FROM {executions}
     WHERE (id = %(under)s OR root_id = %(under)s) AND task_name = ANY(%(tasks)s)
       AND wake_at <= %(now)s AND status <> ALL(%(final)s)
     ORDER BY wake_at, created_at, row_order
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE {executions} e
   SET status = 'running', token = e.token + 1, owner = %(worker)s, wake_at = %(until)s,
       waiting_for = NULL, updated_at = %(now)s
  FROM due WHERE e.id = due.id
RETURNING e.id, e.task_name, e.kind, e.status, e.input, e.output, e.error, e.state, e.attempt,
          e.run, e.parent_id, e.parent_step, e.root_id, e.created_at, e.updated_at, e.wake_at,
          e.waiting_for, e.format_version, e.trace, e.token, e.seq, e.row_order, due.due_at,
          clock_timestamp(),
          EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id AND x.run = e.run)
          OR EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id)
          OR EXISTS (SELECT 1 FROM {messages} m WHERE m.execution_id = e.id AND NOT m.consumed);

-- name: next_wake
SELECT min(wake_at) FROM {executions}
 WHERE wake_at IS NOT NULL AND status <> ALL(%(final)s);

-- The first wake-up of each task (the head of its range of
-- executions_task_due), then the earliest of those: as for claim_of_tasks,
-- one range over all the tasks has no wake_at order.
-- name: next_wake_of_tasks
SELECT min(first.wake_at) FROM (SELECT DISTINCT unnest(%(tasks)s::text[])) AS t (name)
 CROSS JOIN LATERAL (
     SELECT wake_at FROM {executions}
      WHERE task_name = t.name AND wake_at IS NOT NULL AND status <> ALL(%(final)s)
      ORDER BY wake_at
      LIMIT 1
 ) AS first;

-- name: next_wake_in_tree
SELECT min(wake_at) FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s) AND wake_at IS NOT NULL
   AND status <> ALL(%(final)s);

-- name: next_wake_of_tasks_in_tree
SELECT min(wake_at) FROM {executions}
 WHERE (id = %(under)s OR root_id = %(under)s) AND task_name = ANY(%(tasks)s)
   AND wake_at IS NOT NULL AND status <> ALL(%(final)s);

-- Due task names no handler covers: one index probe per distinct task
-- name (a skip scan of executions_task_due), not a scan of the due rows.
-- name: unknown_tasks
WITH RECURSIVE names (name) AS (
    (SELECT task_name FROM {executions} WHERE wake_at IS NOT NULL ORDER BY task_name LIMIT 1)
    UNION ALL
    SELECT (SELECT task_name FROM {executions}
             WHERE wake_at IS NOT NULL AND task_name > names.name
             ORDER BY task_name LIMIT 1)
      FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names
 WHERE name IS NOT NULL AND name <> ALL(%(known)s)
   AND EXISTS (SELECT 1 FROM {executions} e
                WHERE e.task_name = names.name AND e.wake_at <= %(now)s
                  AND e.status <> ALL(%(final)s))
 ORDER BY name;

-- The logs of executions of one run each: each schedule record reads as
-- its child's row once the child ended (a finishing child writes only its
-- own row). OFFSET 0 keeps the planner from turning the lateral probe of
-- the primary key into a hash join over every execution.
-- name: load_records
SELECT x.execution_id, x.name, x.kind, coalesce(c.record_status, x.status), x.seq, x.step,
       CASE WHEN c.record_status IS NULL THEN x.result ELSE c.output END,
       CASE WHEN c.record_status IS NULL THEN x.error ELSE c.error END,
       x.attempts, x.errors, x.wake_at, x.child_id, x.execution_attempt, x.started_at,
       x.created_at,
       CASE WHEN c.record_status IS NULL THEN x.updated_at ELSE c.updated_at END
  FROM unnest(%(ids)s::text[], %(runs)s::int[]) AS want(id, run)
  JOIN {records} x ON x.execution_id = want.id AND x.run = want.run
  LEFT JOIN LATERAL (
      SELECT k.record_status, k.output, k.error, k.updated_at FROM {executions} k
       WHERE k.id = x.child_id AND k.record_status IS NOT NULL
      OFFSET 0
  ) c ON true
 ORDER BY x.execution_id, x.seq;

-- name: load_events
SELECT execution_id, name, payload FROM {events}
 WHERE execution_id = ANY(%(ids)s) ORDER BY execution_id, row_order;

-- name: load_messages
SELECT execution_id, id, topic, payload FROM {messages}
 WHERE execution_id = ANY(%(ids)s) AND NOT consumed ORDER BY execution_id, id;

-- name: load_head
SELECT run, seq FROM {executions} WHERE id = %(id)s;

-- A step's record with the fence folded in: the execution row is locked
-- (status running and the same token) without being written; when the
-- lease no longer holds it yields nothing and nothing is written. A known
-- name keeps its seq and created_at.
-- name: commit_record
WITH fence AS (
    SELECT id, run FROM {executions}
     WHERE id = %(id)s AND status = 'running' AND token = %(token)s
       FOR NO KEY UPDATE
)
INSERT INTO {records}
    (execution_id, run, name, seq, kind, status, step, result, error, attempts, errors, wake_at,
     child_id, execution_attempt, started_at, created_at, updated_at)
SELECT fence.id, fence.run, %(name)s, %(seq)s, %(kind)s, %(status)s, %(step)s::text,
       %(result)s::json, %(error)s::json, %(attempts)s, %(errors)s::json,
       %(wake_at)s::timestamptz, %(child_id)s::text, %(execution_attempt)s,
       %(started_at)s::timestamptz, %(now)s, %(now)s
  FROM fence
ON CONFLICT (execution_id, run, name) DO UPDATE SET
    kind = excluded.kind, status = excluded.status, step = excluded.step,
    result = excluded.result, error = excluded.error, attempts = excluded.attempts,
    errors = excluded.errors, wake_at = excluded.wake_at, child_id = excluded.child_id,
    execution_attempt = excluded.execution_attempt, started_at = excluded.started_at,
    updated_at = excluded.updated_at
RETURNING 1;

-- Records, state and a final outcome in one statement (a run's last commit).
-- The second column tells whether a parent waits on this execution: then
-- wake_parent follows, after the commit.
-- name: commit_end
WITH fence AS (
    SELECT id, run, parent_id, awaited FROM {executions}
     WHERE id = %(id)s AND status = 'running' AND token = %(token)s
       FOR NO KEY UPDATE
), written AS (
    INSERT INTO {records}
        (execution_id, run, name, seq, kind, status, step, result, error, attempts, errors,
         wake_at, child_id, execution_attempt, started_at, created_at, updated_at)
    SELECT fence.id, fence.run, w.name, w.seq, w.kind, w.status, w.step, w.result, w.error,
           w.attempts, w.errors, w.wake_at, w.child_id, w.execution_attempt, w.started_at,
           %(now)s, %(now)s
      FROM fence, unnest(%(names)s::text[], %(seqs)s::int[], %(kinds)s::text[],
                         %(statuses)s::text[], %(steps)s::text[], %(results)s::json[],
                         %(record_errors)s::json[], %(attempts)s::int[], %(attempt_errors)s::json[],
                         %(wakes)s::timestamptz[], %(child_ids)s::text[],
                         %(execution_attempts)s::int[], %(starts)s::timestamptz[])
           AS w(name, seq, kind, status, step, result, error, attempts, errors, wake_at,
                child_id, execution_attempt, started_at)
    ON CONFLICT (execution_id, run, name) DO UPDATE SET
        kind = excluded.kind, status = excluded.status, step = excluded.step,
        result = excluded.result, error = excluded.error, attempts = excluded.attempts,
        errors = excluded.errors, wake_at = excluded.wake_at, child_id = excluded.child_id,
        execution_attempt = excluded.execution_attempt, started_at = excluded.started_at,
        updated_at = excluded.updated_at
), ended AS (
    UPDATE {executions} e
       SET status = %(status)s, record_status = %(record_status)s, output = %(output)s::json,
           error = %(error)s::json, wake_at = NULL, waiting_for = NULL, owner = NULL,
           updated_at = %(now)s,
           state = CASE WHEN %(has_state)s THEN %(state)s::json ELSE e.state END
      FROM fence WHERE e.id = fence.id
)
SELECT parent_id, awaited FROM fence;

-- name: fence
SELECT run, attempt FROM {executions}
 WHERE id = %(id)s AND status = 'running' AND token = %(token)s
   FOR NO KEY UPDATE;

-- name: write_records
INSERT INTO {records}
    (execution_id, run, name, seq, kind, status, step, result, error, attempts, errors, wake_at,
     child_id, execution_attempt, started_at, created_at, updated_at)
SELECT e.id, e.run, w.name, w.seq, w.kind, w.status, w.step, w.result, w.error, w.attempts,
       w.errors, w.wake_at, w.child_id, w.execution_attempt, w.started_at, %(now)s, %(now)s
  FROM {executions} e,
       unnest(%(names)s::text[], %(seqs)s::int[], %(kinds)s::text[], %(statuses)s::text[],
              %(steps)s::text[], %(results)s::json[], %(record_errors)s::json[],
              %(attempts)s::int[], %(attempt_errors)s::json[], %(wakes)s::timestamptz[],
              %(child_ids)s::text[], %(execution_attempts)s::int[], %(starts)s::timestamptz[])
       AS w(name, seq, kind, status, step, result, error, attempts, errors, wake_at, child_id,
            execution_attempt, started_at)
 WHERE e.id = %(id)s
ON CONFLICT (execution_id, run, name) DO UPDATE SET
    kind = excluded.kind, status = excluded.status, step = excluded.step,
    result = excluded.result, error = excluded.error, attempts = excluded.attempts,
    errors = excluded.errors, wake_at = excluded.wake_at, child_id = excluded.child_id,
    execution_attempt = excluded.execution_attempt, started_at = excluded.started_at,
    updated_at = excluded.updated_at;

-- name: insert_children
INSERT INTO {executions}
    (id, task_name, kind, status, input, parent_id, parent_step, root_id, created_at,
     updated_at, wake_at, format_version, trace)
SELECT c.id, c.task_name, c.kind, 'pending', c.input, %(id)s, c.parent_step, c.root_id,
       %(now)s, %(now)s, %(now)s, %(format_version)s, c.trace
  FROM unnest(%(child_ids)s::text[], %(tasks)s::text[], %(kinds)s::text[], %(inputs)s::json[],
              %(steps)s::text[], %(roots)s::text[], %(traces)s::json[])
       AS c(id, task_name, kind, input, parent_step, root_id, trace)
ON CONFLICT (id) DO NOTHING;

-- name: rerun_facts
SELECT id, status, attempt, run FROM {executions}
 WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE;

-- name: run_again
UPDATE {executions}
   SET status = 'pending', wake_at = %(wake_at)s, waiting_for = NULL, attempt = %(attempt)s,
       run = %(run)s, error = coalesce(%(error)s::json, error), output = NULL,
       record_status = NULL, awaited = CASE WHEN %(rerun)s THEN false ELSE awaited END,
       token = token + 1, owner = NULL, updated_at = %(now)s
 WHERE id = %(id)s;

-- Seqs go on counting across runs: seq keeps the highest given.
-- name: continue_run
UPDATE {executions} e
   SET status = 'pending', wake_at = %(wake_at)s, waiting_for = NULL, attempt = 0,
       run = %(run)s, input = %(input)s::json, state = NULL, error = NULL, output = NULL,
       owner = NULL, updated_at = %(now)s,
       seq = greatest(e.seq, (SELECT coalesce(max(x.seq), 0) FROM {records} x
                               WHERE x.execution_id = e.id))
 WHERE id = %(id)s;

-- name: drop_old_runs
DELETE FROM {records} WHERE execution_id = %(id)s AND run < %(oldest_kept)s;

-- name: consume_messages
UPDATE {messages} SET consumed = true WHERE id = ANY(%(messages)s) AND execution_id = %(id)s;

-- name: set_state
UPDATE {executions} SET state = %(state)s::json WHERE id = %(id)s;

-- Marking awaited children under their row locks: a child finishing at
-- the same time either committed first (its record_status is read here,
-- after the lock) or waits, and then sees awaited and this parent waiting.
-- name: mark_awaited
UPDATE {executions} SET awaited = true
 WHERE parent_id = %(id)s AND parent_step = ANY(%(names)s)
RETURNING record_status;

-- name: event_there
SELECT EXISTS (SELECT 1 FROM {events} WHERE execution_id = %(id)s AND name = %(name)s);

-- name: message_there
SELECT EXISTS (SELECT 1 FROM {messages}
                WHERE execution_id = %(id)s AND topic = %(topic)s AND NOT consumed);

-- name: set_row
UPDATE {executions}
   SET status = %(status)s, wake_at = %(wake_at)s, waiting_for = %(waiting_for)s, owner = NULL,
       updated_at = %(now)s
 WHERE id = %(id)s;

-- name: stall
UPDATE {executions}
   SET status = 'stalled', wake_at = NULL, waiting_for = NULL, owner = NULL,
       error = %(error)s::json, updated_at = %(now)s
 WHERE id = %(id)s;

-- name: end_execution
UPDATE {executions}
   SET status = %(status)s, record_status = %(record_status)s, output = %(output)s::json,
       error = %(error)s::json, wake_at = NULL, waiting_for = NULL, owner = NULL,
       updated_at = %(now)s
 WHERE id = %(id)s
RETURNING parent_id, awaited;

-- A parent waiting on its children becomes due once none it awaits is
-- open. Its own statement, after the child's commit: a statement's
-- snapshot sees every sibling that committed before it began.
-- name: wake_parent
WITH woken AS (
    UPDATE {executions}
       SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
     WHERE id = %(parent)s AND status = 'waiting' AND waiting_for = 'children'
       AND NOT EXISTS (SELECT 1 FROM {executions} c
                        WHERE c.parent_id = %(parent)s AND c.awaited
                          AND c.record_status IS NULL)
    RETURNING id
)
SELECT count(pg_notify(%(channel)s, '')) FROM woken;

-- name: wake_stranded
WITH woken AS (
    UPDATE {executions} p
       SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
     WHERE p.status = 'waiting' AND p.waiting_for = 'children'
       AND NOT EXISTS (SELECT 1 FROM {executions} c
                        WHERE c.parent_id = p.id AND c.awaited AND c.record_status IS NULL)
    RETURNING p.id
)
SELECT count(*), count(pg_notify(%(channel)s, '')) FROM woken;

-- name: heartbeat
UPDATE {executions} e SET wake_at = %(until)s
  FROM unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS h(id, token)
 WHERE e.id = h.id AND e.token = h.token AND e.status = 'running'
RETURNING e.id, e.token, clock_timestamp();

-- name: release
WITH released AS (
    UPDATE {executions}
       SET status = 'pending', wake_at = %(now)s, owner = NULL, updated_at = %(now)s
     WHERE id = %(id)s AND status = 'running' AND token = %(token)s
    RETURNING id
)
SELECT count(pg_notify(%(channel)s, '')) FROM released;

-- name: insert_event
INSERT INTO {events} (execution_id, name, payload, created_at)
VALUES (%(id)s, %(name)s, %(payload)s::json, %(now)s)
ON CONFLICT (execution_id, name) DO NOTHING
RETURNING 1;

-- name: wake_on
WITH woken AS (
    UPDATE {executions}
       SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
     WHERE id = %(id)s AND status = 'waiting' AND waiting_for = %(waiting_for)s
    RETURNING id
)
SELECT count(pg_notify(%(channel)s, '')) FROM woken;

-- The message a send with this idempotency key stored before, if any.
-- name: message_by_key
SELECT id, topic FROM {messages} WHERE execution_id = %(id)s AND idempotency_key = %(key)s;

-- name: insert_message
INSERT INTO {messages} (execution_id, topic, payload, created_at, idempotency_key)
VALUES (%(id)s, %(topic)s, %(payload)s::json, %(now)s, %(key)s)
RETURNING id;

-- An execution and its unfinished descendants (a finished child's subtree
-- is left alone), locked in id order so that two cancels of overlapping
-- trees queue up instead of deadlocking.
-- name: lock_tree
WITH RECURSIVE tree AS (
    SELECT id, status FROM {executions} WHERE id = %(id)s
    UNION ALL
    SELECT c.id, c.status FROM {executions} c JOIN tree t ON c.parent_id = t.id
     WHERE t.status <> ALL(%(final)s) AND c.status <> ALL(%(final)s)
)
SELECT e.id, e.status FROM {executions} e JOIN tree USING (id) ORDER BY e.id FOR UPDATE OF e;

-- name: cancel_rows
UPDATE {executions}
   SET status = 'cancelled', record_status = %(record_status)s, token = token + 1, owner = NULL,
       wake_at = NULL, waiting_for = NULL, output = NULL, error = %(error)s::json,
       updated_at = %(now)s
 WHERE id = ANY(%(ids)s) AND status <> ALL(%(final)s)
RETURNING parent_id, awaited;

-- Listing, newest first. A status, a task or both select an index each
-- whose order is the listing's (ending in created_at, id): a page is one
-- index walk, with no sort. A parent or an id prefix drives its own index,
-- and the other filters are checked on the rows it finds. Listings are
-- planned for their values at every run (PLANNED_EACH_TIME in the store).

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
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(task)s::text IS NULL OR task_name = %(task)s)
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_search
SELECT id, task_name, kind, status, input, output, error, state, attempt, run, parent_id,
       parent_step, root_id, created_at, updated_at, wake_at, waiting_for, format_version, trace
  FROM {executions}
 WHERE starts_with(id, %(search)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(task)s::text IS NULL OR task_name = %(task)s)
   AND (%(parent_id)s::text IS NULL OR parent_id = %(parent_id)s)
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: counts
SELECT status, count(*) FROM {executions} GROUP BY status;

-- name: counts_of_task
SELECT status, count(*) FROM {executions} WHERE task_name = %(task)s GROUP BY status;

-- name: status_counts
SELECT task_name, status, count(*) FROM {executions} GROUP BY task_name, status;

-- Live workers: each records itself, beats, and leaves; a row past
-- expires_at is a dead worker, dropped a day later.
-- name: drop_dead_workers
DELETE FROM {workers} WHERE expires_at < %(gone)s;

-- name: register_worker
INSERT INTO {workers} (id, host, pid, tasks, concurrency, started_at, heartbeat_at, expires_at,
                       inflight)
VALUES (%(id)s, %(host)s, %(pid)s, %(tasks)s::json, %(concurrency)s, %(now)s, %(now)s,
        %(expires_at)s, %(inflight)s)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, tasks = excluded.tasks,
    concurrency = excluded.concurrency, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
    inflight = excluded.inflight;

-- name: beat_worker
UPDATE {workers} SET heartbeat_at = %(now)s, expires_at = %(expires_at)s, inflight = %(inflight)s
 WHERE id = %(id)s
RETURNING 1;

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
VALUES (%(id)s, 1, %(name)s, %(seq)s, %(kind)s, %(status)s, %(step)s::text, %(result)s::json,
        %(error)s::json, %(attempts)s, %(errors)s::json, %(wake_at)s::timestamptz,
        %(child_id)s::text, %(execution_attempt)s, %(started_at)s::timestamptz, %(now)s, %(now)s);

-- name: set_seq
UPDATE {executions} SET seq = %(seq)s WHERE id = %(id)s;

-- Recurring schedules ---------------------------------------------------------

-- name: insert_schedule
INSERT INTO {schedules}
    (id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
     next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at, updated_at)
VALUES (%(id)s, %(task_name)s, %(input)s::json, %(cron)s, %(every_us)s, %(timezone)s,
        %(overlap)s, %(catchup_us)s, %(jitter_us)s, %(paused)s, %(next_tick)s,
        %(next_fire_at)s, %(last_tick)s, %(last_execution_id)s, %(buffered_tick)s,
        %(created_at)s, %(updated_at)s)
ON CONFLICT (id) DO NOTHING
RETURNING 1;

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
DELETE FROM {schedules} WHERE id = %(id)s RETURNING 1;

-- Due schedules nobody else is firing; each is fired in this transaction.
-- name: due_schedules
SELECT id, task_name, input, cron, every_us, timezone, overlap, catchup_us, jitter_us, paused,
       next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick, created_at,
       updated_at
  FROM {schedules}
 WHERE NOT paused AND next_fire_at <= %(now)s
   AND (%(tasks)s::text[] IS NULL OR task_name = ANY(%(tasks)s::text[]))
 ORDER BY next_fire_at LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: next_schedule_fire
SELECT min(next_fire_at) FROM {schedules}
 WHERE NOT paused AND (%(tasks)s::text[] IS NULL OR task_name = ANY(%(tasks)s::text[]));

-- The status of the executions the last ticks of a batch of schedules started.
-- name: statuses_of
SELECT id, status FROM {executions} WHERE id = ANY(%(ids)s::text[]);

-- The ticks a batch of firings starts, in one statement; the ids created
-- (a tick started already is left alone).
-- name: insert_ticks
WITH created AS (
    INSERT INTO {executions}
        (id, task_name, kind, status, input, created_at, updated_at, wake_at, format_version, trace)
    SELECT t.id, t.task_name, 'workflow', 'pending', t.input, %(now)s, %(now)s, %(now)s,
           %(format_version)s, NULL
      FROM unnest(%(ids)s::text[], %(task_names)s::text[], %(inputs)s::json[])
           AS t (id, task_name, input)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT created.id, pg_notify(%(channel)s, '') FROM created;

-- What a batch of firings changes, in one statement.
-- name: update_schedules
UPDATE {schedules} AS s
   SET next_tick = u.next_tick, next_fire_at = u.next_fire_at, last_tick = u.last_tick,
       last_execution_id = u.last_execution_id, buffered_tick = u.buffered_tick,
       updated_at = %(now)s
  FROM unnest(%(ids)s::text[], %(next_ticks)s::timestamptz[], %(next_fire_ats)s::timestamptz[],
              %(last_ticks)s::timestamptz[], %(last_execution_ids)s::text[],
              %(buffered_ticks)s::timestamptz[])
       AS u (id, next_tick, next_fire_at, last_tick, last_execution_id, buffered_tick)
 WHERE s.id = u.id;
