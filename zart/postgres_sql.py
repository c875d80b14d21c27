"""The PostgreSQL store's queries by name, their parameters and their rows.

Each query is a template: ``{executions}``, ``{records}``, ``{events}`` and
``{schema_version}`` are table names that ``render`` fills with quoted
identifiers (schema and prefix applied); values always travel as
``%(name)s`` parameters. ``PostgresStore`` renders every query once, to
bytes, so psycopg's automatic prepared statements apply to them.

Round trips are what a durable step costs, so writes are single statements
where they can be: data-modifying CTEs let one statement fence, write and
report. Where a statement must see what another transaction committed while
we waited for a row lock, it is a statement of its own: under READ COMMITTED
each statement takes a fresh snapshot, but the one that waited keeps its old
one (only the rows it locks or updates are re-read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from psycopg import sql
from psycopg.types.json import Json

from . import records as r
from .records import Commit, ExecutionRecord, Lease, NewExecution, StepRecord

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, schema: str | None, prefix: str) -> bytes:
    """Fill a template's names with quoted identifiers (see 0001_initial.sql):
    ``{schema}``, ``{name_x}`` (bare ``<prefix>x``), any other ``{t}`` is the
    table ``<prefix>t``, schema-qualified when there is a schema."""
    names: dict[str, sql.Composable] = {}
    for key in set(_PLACEHOLDER.findall(template)):
        if key == "schema":
            names[key] = sql.Identifier(schema or "public")
        elif key.startswith("name_"):
            names[key] = sql.Identifier(prefix + key.removeprefix("name_"))
        elif schema:
            names[key] = sql.Identifier(schema, prefix + key)
        else:
            names[key] = sql.Identifier(prefix + key)
    return sql.SQL(template).format(**names).as_bytes(None)


# Column order of every execution row read back (see PostgresStore._execution).
EXEC_COLS = (
    "id, task_name, kind, status, input, output, error, state, attempt, parent_id, "
    "parent_step, created_at, updated_at, wake_at, waiting_for, format_version, token"
)
_E_COLS = ", ".join("e." + c.strip() for c in EXEC_COLS.split(","))

# -- migrations ---------------------------------------------------------------

CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"

CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {schema_version} (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

CURRENT_VERSION = "SELECT coalesce(max(version), 0) FROM {schema_version}"

RECORD_VERSION = "INSERT INTO {schema_version} (version) VALUES (%(version)s)"

MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"

# -- executions ---------------------------------------------------------------

# The notification rides in the same statement: no extra round trip.
CREATE = (
    """
WITH ins AS (
    INSERT INTO {executions}
        (id, task_name, kind, status, input, parent_id, parent_step,
         created_at, updated_at, wake_at)
    VALUES (%(id)s, %(task_name)s, %(kind)s, 'pending', %(input)s::json, %(parent_id)s::text,
            %(parent_step)s::text, %(now)s, %(now)s, %(now)s)
    ON CONFLICT (id) DO NOTHING
    RETURNING """
    + EXEC_COLS
    + """
)
SELECT """
    + EXEC_COLS
    + """, (SELECT count(pg_notify(%(channel)s, '')) FROM ins) FROM ins"""
)

STATUS_OF = "SELECT status, token FROM {executions} WHERE id = %(id)s"

GET = "SELECT " + EXEC_COLS + " FROM {executions} WHERE id = %(id)s"

LIST = (
    "SELECT "
    + EXEC_COLS
    + """ FROM {executions}
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task)s::text IS NULL OR task_name = %(task)s)
  AND (%(parent_id)s::text IS NULL OR parent_id = %(parent_id)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s"""
)

# Claim: lock the oldest due rows nobody else holds, and take them, in one
# statement. SKIP LOCKED makes concurrent claimers pass each other by; a row
# another claimer took after our snapshot fails the recheck after locking.
_CLAIM = (
    """
WITH due AS (
    SELECT id, wake_at AS due_at, row_order FROM {executions}
    WHERE wake_at IS NOT NULL AND wake_at <= %(now)s @TASKS @UNDER
    ORDER BY wake_at, created_at, row_order
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {executions} e
    SET status = 'running', token = e.token + 1, owner = %(worker)s,
        wake_at = %(until)s, waiting_for = NULL, updated_at = %(now)s
    FROM due WHERE e.id = due.id
    RETURNING """
    + _E_COLS
    + """, due.due_at, due.row_order, e.seq,
        NOT EXISTS (SELECT 1 FROM {records} x WHERE x.execution_id = e.id)
        AND NOT EXISTS (SELECT 1 FROM {events} v WHERE v.execution_id = e.id) AS empty_log
)
SELECT * FROM claimed ORDER BY due_at, created_at, row_order"""
)
_BY_TASK = "AND task_name = ANY(%(tasks)s)"
# An execution tree: the root and every id below it ("root:child:..."). Not a
# range on id: under a linguistic collation ':' does not sort where bytes do.
_UNDER = "AND (id = %(under)s OR starts_with(id, %(under)s || ':'))"
CLAIM = _CLAIM.replace("@TASKS", "").replace("@UNDER", "")
CLAIM_TASKS = _CLAIM.replace("@TASKS", _BY_TASK).replace("@UNDER", "")
CLAIM_UNDER = _CLAIM.replace("@TASKS", "").replace("@UNDER", _UNDER)
CLAIM_TASKS_UNDER = _CLAIM.replace("@TASKS", _BY_TASK).replace("@UNDER", _UNDER)

_NEXT_WAKE = """
SELECT wake_at FROM {executions}
WHERE wake_at IS NOT NULL @TASKS
ORDER BY wake_at, created_at, row_order
LIMIT 1"""
NEXT_WAKE = _NEXT_WAKE.replace("@TASKS", "")
NEXT_WAKE_TASKS = _NEXT_WAKE.replace("@TASKS", _BY_TASK)
NEXT_WAKE_UNDER = _NEXT_WAKE.replace("@TASKS", _UNDER)
NEXT_WAKE_TASKS_UNDER = _NEXT_WAKE.replace("@TASKS", f"{_BY_TASK} {_UNDER}")

UNKNOWN_TASKS = """
SELECT DISTINCT task_name FROM {executions}
WHERE wake_at IS NOT NULL AND wake_at <= %(now)s AND task_name <> ALL(%(known)s)
ORDER BY task_name"""

HEARTBEAT = """
UPDATE {executions} e SET wake_at = %(until)s
FROM unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS h(id, token)
WHERE e.id = h.id AND e.token = h.token AND e.status = 'running'
RETURNING e.id, e.token"""

RELEASE = """
WITH u AS (
    UPDATE {executions}
    SET status = 'pending', wake_at = %(now)s, owner = NULL, updated_at = %(now)s
    WHERE id = %(id)s AND status = 'running' AND token = %(token)s
    RETURNING id
)
SELECT count(pg_notify(%(channel)s, '')) FROM u"""

# -- reads ----------------------------------------------------------------------

# The existence row (src 0), the log (src 1, by seq) and the events (src 2, in
# offer order) in one statement, hence one snapshot. A scheduled child's
# record says what the child's row says once the child is final: a finishing
# child writes only its own row (see COMMIT_FINISH). The lateral join probes
# the primary key once per record that names a child; a step record, which
# names none, costs a null test. (OFFSET 0 keeps the planner from turning it
# into a hash join that reads every execution.)
LOAD = """
SELECT 0 AS src, NULL::text AS name, NULL::text AS kind, NULL::text AS status,
       seq::bigint AS ord, NULL::text AS step, NULL::json AS result, NULL::json AS error,
       0 AS attempts, NULL::timestamptz AS wake_at, NULL::text AS child_id,
       NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at
FROM {executions} WHERE id = %(id)s
UNION ALL
SELECT 1, r.name, r.kind, coalesce(c.record_status, r.status), r.seq, r.step,
       CASE WHEN c.record_status IS NULL THEN r.result ELSE c.output END,
       CASE WHEN c.record_status IS NULL THEN r.error ELSE c.error END,
       r.attempts, r.wake_at, r.child_id, r.created_at,
       CASE WHEN c.record_status IS NULL THEN r.updated_at ELSE c.updated_at END
FROM {records} r
LEFT JOIN LATERAL (
    SELECT x.record_status, x.output, x.error, x.updated_at FROM {executions} x
    WHERE x.id = r.child_id AND x.record_status IS NOT NULL
    OFFSET 0
) c ON true
WHERE r.execution_id = %(id)s
UNION ALL
SELECT 2, name, NULL, NULL, row_order, NULL, payload, NULL, 0, NULL, NULL, created_at, NULL
FROM {events} WHERE execution_id = %(id)s @EVENTS
ORDER BY 1, 5"""
LOAD_ALL = LOAD.replace("@EVENTS", "")
LOAD_HISTORY = LOAD.replace("@EVENTS", "AND false")

# -- commit -----------------------------------------------------------------------

# Fence, log upsert and state in one statement. The fence locks the
# execution row (status running and same token) without writing it: when the
# lease no longer holds it returns nothing, so is everything joined to it,
# and the statement writes nothing and returns no row. The lock keeps a
# claim or cancel from moving the token before this transaction ends. The
# lease holder numbers new records (``seq``); names already in the log keep
# their seq and created_at.
_UPSERT = """
    ON CONFLICT (execution_id, name) DO UPDATE SET
        kind = excluded.kind, status = excluded.status, step = excluded.step,
        result = excluded.result, error = excluded.error, attempts = excluded.attempts,
        wake_at = excluded.wake_at, child_id = excluded.child_id,
        updated_at = excluded.updated_at"""
_FENCE = """
WITH fence AS (
    SELECT e.id, e.parent_id, e.awaited, e.row_order FROM {executions} e
    WHERE e.id = %(id)s AND e.status = 'running' AND e.token = %(token)s
    FOR NO KEY UPDATE
)"""
_STATE = """, state AS (
    UPDATE {executions} SET state = %(state)s::json
    WHERE %(has_state)s AND id = (SELECT id FROM fence)
)"""
_INSERT = """
    INSERT INTO {records} AS r
        (execution_id, name, seq, kind, status, step, result, error, attempts, wake_at,
         child_id, created_at, updated_at)"""
_UPSERT_MANY = (
    """, w AS (
    SELECT * FROM unnest(%(names)s::text[], %(seqs)s::int[], %(kinds)s::text[],
                         %(statuses)s::text[], %(steps)s::text[], %(results)s::json[],
                         %(errors)s::json[], %(attempts)s::int[], %(wakes)s::timestamptz[],
                         %(child_ids)s::text[])
        WITH ORDINALITY AS w(name, seq, kind, status, step, result, error, attempts, wake_at,
                             child_id, ord)
), up AS ("""
    + _INSERT
    + """
    SELECT f.id, w.name, w.seq, w.kind, w.status, w.step, w.result, w.error, w.attempts,
           w.wake_at, w.child_id, %(now)s, %(now)s
    FROM w CROSS JOIN fence f
    ORDER BY w.ord"""
    + _UPSERT
    + """
)"""
)
_INSERT_ONE = (
    """, up AS ("""
    + _INSERT
    + """
    SELECT f.id, %(w_name)s, %(w_seq)s, %(w_kind)s, %(w_status)s,
           %(w_step)s::text, %(w_result)s::json, %(w_error)s::json, %(w_attempts)s::int,
           %(w_wake_at)s::timestamptz, %(w_child_id)s::text, %(now)s, %(now)s
    FROM fence f@UPSERT
)"""
)
_UPSERT_ONE = _INSERT_ONE.replace("@UPSERT", _UPSERT)
_ANSWER = "\nSELECT 1 FROM fence"

COMMIT = _FENCE + _STATE + _UPSERT_MANY + _ANSWER
# The same for the common case, one record: scalar parameters, a simpler plan.
COMMIT_ONE = _FENCE + _STATE + _UPSERT_ONE + _ANSWER
# A step's commit: one record and no state, so no state CTE to run either.
COMMIT_STEP = _FENCE + _UPSERT_ONE + _ANSWER
# The same for a name the log does not hold yet (every step that completes
# at its first try): a plain insert. ON CONFLICT costs a speculative
# insertion, confirmed by a WAL record of its own; without it a step commit
# wrote 25% less WAL (400 against 528 B) and took 5-10% less time. A record
# there after all (a retry whose lost try landed) raises a unique violation,
# which rolls the statement back: the caller then runs the UPSERT_OF twin.
_FIRST_ONE = _INSERT_ONE.replace("@UPSERT", "")
COMMIT_STEP_FIRST = _FENCE + _FIRST_ONE + _ANSWER

# The final statuses: the ``final`` parameter of SUSPEND and cancel, and
# spelled out for the statements that look for open children (see _WAKE).
FINAL = sorted(r.FINAL_STATUSES)
_OPEN = "('" + "', '".join(FINAL) + "')"

# Records, state and a final status in one autocommit statement: no
# transaction is needed, since a child writes nothing of its parent's. Its
# row keeps what its record in the parent's log says (record_status; see
# LOAD), and the second column tells whether WAKE_PARENT_OF must follow,
# after the commit: when the parent awaits this child (the fence reads
# ``awaited`` from the row it locked, which is what a finishing child and
# its parent's suspend meet on; see SUSPEND) and no later awaited sibling
# could be held open.
# Holding a sibling open is what spares most children that round trip: a
# row lock on an open awaited sibling keeps it from finishing (or being
# cancelled) before this commit, so its own check comes after this commit
# and sees this child final. SKIP LOCKED never waits, so this cannot
# deadlock; it falls back to the check when no sibling in range is free.
# The lock is exclusive (NO KEY UPDATE) so that two finishing children never
# hold the same sibling: shared locks taken together make a multixact. The
# sibling is one 64 to 127 places on in creation order, past the children
# running now, whose finish would queue behind this commit; a range, not
# an ORDER BY, which the planner served by sorting every open sibling. The
# parent is the claim's hint, a constant the planner matches with the
# index; the fence's own parent_id must equal it.
_FINISH = (
    _FENCE
    + "@WRITES"
    + """, fin AS (
    UPDATE {executions} e
    SET status = %(status)s, wake_at = NULL, waiting_for = NULL, updated_at = %(now)s,
        output = %(output)s::json, error = %(error)s::json, owner = NULL,
        record_status = %(rstatus)s,
        state = CASE WHEN %(has_state)s THEN %(state)s::json ELSE e.state END
    FROM fence f WHERE e.id = f.id
), held_open AS (
    SELECT 1 FROM {executions} s, fence f
    WHERE f.awaited AND f.parent_id = %(parent_id)s AND s.parent_id = %(parent_id)s
      AND s.row_order BETWEEN f.row_order + 64 AND f.row_order + 127
      AND s.awaited AND s.status NOT IN @OPEN
    LIMIT 1
    FOR NO KEY UPDATE OF s SKIP LOCKED
)
SELECT parent_id, awaited AND NOT EXISTS (SELECT 1 FROM held_open) FROM fence"""
)
# Each comes in three shapes of its records: several (arrays), one (scalar
# parameters: adapting ten one-element arrays cost the client more than the
# whole statement's other parameters) and one first write.
_FINISH = _FINISH.replace("@OPEN", _OPEN)
COMMIT_FINISH = _FINISH.replace("@WRITES", _UPSERT_MANY)
COMMIT_FINISH_ONE = _FINISH.replace("@WRITES", _UPSERT_ONE)
COMMIT_FINISH_FIRST = _FINISH.replace("@WRITES", _FIRST_ONE)

# What a first write's statement becomes when its name is there after all.
UPSERT_OF = {
    "COMMIT_STEP_FIRST": "COMMIT_STEP",
    "COMMIT_FINISH_FIRST": "COMMIT_FINISH_ONE",
}

# The statements below follow COMMIT/COMMIT_ONE in the same transaction and
# are sent with it in one pipeline, before its answer is read. So each one
# writes only while the lease holds (_HELD, or the same test in its WHERE):
# when the fence failed, the whole transaction commits nothing, and commit()
# raises LeaseLost once it reads the fence's empty answer. _HELD stays true
# after a successful fence until FINISH, which ends the execution, because
# the fence changes neither status nor token and holds the row lock.
_HELD = """EXISTS (SELECT 1 FROM {executions}
               WHERE id = %(id)s AND status = 'running' AND token = %(token)s)"""

INSERT_CHILDREN = (
    """
WITH ins AS (
    INSERT INTO {executions}
        (id, task_name, kind, status, input, parent_id, parent_step, awaited,
         created_at, updated_at, wake_at)
    SELECT c.id, c.task_name, c.kind, 'pending', c.input, c.parent_id, c.parent_step,
           c.awaited, %(now)s, %(now)s, %(now)s
    FROM unnest(%(ids)s::text[], %(task_names)s::text[], %(kinds)s::text[], %(inputs)s::json[],
                %(parent_ids)s::text[], %(parent_steps)s::text[], %(awaiteds)s::boolean[])
        WITH ORDINALITY AS c(id, task_name, kind, input, parent_id, parent_step, awaited, ord)
    WHERE """
    + _HELD
    + """
    ORDER BY c.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
)
SELECT count(pg_notify(%(channel)s, '')) FROM (SELECT 1 FROM ins LIMIT 1) AS any_new"""
)

# Suspend, decided in SQL so its answer can be read after COMMIT: an event
# already offered, or awaited children all final, keep the execution due now.
# The awaited children's rows are where a finishing child and this suspend
# meet: each is marked (an UPDATE) or, when marked already, locked (FOR
# SHARE), and a finishing child locks its own row. So either the child
# committed first, and the UPDATE or the lock re-reads its row as final, or
# the child waits for our commit, reads ``awaited`` and, after its own
# commit, runs WAKE_*, which sees us waiting. Children this transaction
# inserted (INSERT_CHILDREN marks those this suspend awaits) are pending and
# nobody else's yet: they are counted, not locked. Children a past wait_all
# marked are final unless the parent woke early (see _WAKE): the lock covers
# those that are not.
SUSPEND = (
    """
WITH held AS (
    SELECT """
    + _HELD
    + """ AS ok
), hit AS (
    SELECT EXISTS (SELECT 1 FROM {events}
                   WHERE execution_id = %(id)s AND name = %(event)s::text) AS hit
), named AS (
    SELECT r.child_id FROM {records} r
    WHERE r.execution_id = %(id)s AND r.name = ANY(%(children)s::text[])
      AND (SELECT ok FROM held) AND NOT (SELECT hit FROM hit)
), marked AS (
    UPDATE {executions} c SET awaited = true
    FROM named n WHERE c.id = n.child_id AND NOT c.awaited
    RETURNING c.status
), watched AS (
    SELECT 1 FROM {executions} c JOIN named n ON c.id = n.child_id
    WHERE c.awaited AND c.status <> ALL(%(final)s) AND c.xmin <> pg_current_xact_id()::xid
    FOR SHARE OF c
), decided AS (
    SELECT (SELECT hit FROM hit)
               OR (cardinality(%(children)s::text[]) > 0
                   AND (SELECT count(*) FROM marked WHERE status <> ALL(%(final)s)) = 0
                   AND (SELECT count(*) FROM watched) = 0
                   AND NOT EXISTS (SELECT 1 FROM {executions} c JOIN named n ON c.id = n.child_id
                                   WHERE c.awaited AND c.xmin = pg_current_xact_id()::xid))
           AS due_now
), u AS (
    UPDATE {executions} e
    SET status = CASE WHEN d.due_now THEN 'pending' ELSE %(status)s::text END,
        wake_at = CASE WHEN d.due_now THEN %(now)s ELSE %(wake_at)s::timestamptz END,
        waiting_for = CASE WHEN d.due_now THEN e.waiting_for ELSE %(waiting_for)s::text END,
        owner = NULL, updated_at = %(now)s
    FROM decided d
    WHERE e.id = %(id)s AND e.status = 'running' AND e.token = %(token)s
    RETURNING NOT d.due_now AS suspended, e.wake_at
)
SELECT suspended, (SELECT count(pg_notify(%(channel)s, '')) FROM u WHERE wake_at <= %(now)s)
FROM u"""
)

RETRY = """
WITH u AS (
    UPDATE {executions}
    SET status = 'pending', wake_at = %(wake_at)s, attempt = attempt + 1,
        error = %(error)s::json, owner = NULL, updated_at = %(now)s,
        -- the dropped records' names come back with seqs above any given
        seq = greatest(seq, (SELECT coalesce(max(seq), 0) FROM {records}
                             WHERE execution_id = %(id)s))
    WHERE id = %(id)s AND status = 'running' AND token = %(token)s
    RETURNING wake_at
), dropped AS (
    DELETE FROM {records}
    WHERE execution_id = %(id)s AND kind = 'step' AND status = 'failed'
      AND EXISTS (SELECT 1 FROM u)
)
SELECT count(pg_notify(%(channel)s, '')) FROM u WHERE wake_at <= %(now)s"""

# Complete / Fail, in a transaction with new children (see COMMIT_FINISH).
FINISH = """
UPDATE {executions}
SET status = %(status)s, wake_at = NULL, waiting_for = NULL, updated_at = %(now)s,
    output = %(output)s::json, error = %(error)s::json, owner = NULL,
    record_status = %(rstatus)s
WHERE id = %(id)s AND status = 'running' AND token = %(token)s"""

# Wake a parent waiting on children once none of its awaited children is
# open. Run after the commit that made a child final, in a statement (and
# so a snapshot) of its own: of two children finishing together, the one
# that commits last sees the other final. Concurrent checks wake the parent
# once: the second re-reads the row the first updated, no longer waiting.
# It reads the parent's children newest first (executions_parent): children
# mostly finish in the order they were scheduled, so the newest open child
# turns up at once rather than after every finished one. A check held up
# until the parent, woken by another, suspends on new children, may re-read
# the parent waiting but still count with its old snapshot, where the new
# children do not exist yet: the parent then wakes early, finds them open
# and suspends again. That costs a replay; nothing is lost or run twice.
_WAKE = (
    """
WITH woke AS (
    UPDATE {executions} p
    SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
    WHERE @WHICH AND p.status = 'waiting' AND p.waiting_for = 'children'
      AND (SELECT x.row_order FROM {executions} x
           WHERE x.parent_id = p.id AND x.awaited AND x.status NOT IN """
    + _OPEN
    + """
           ORDER BY x.row_order DESC LIMIT 1) IS NULL
    RETURNING 1
)
SELECT count(*), count(pg_notify(%(channel)s, '')) FROM woke"""
)
# After a child finished (its row says who its parent is).
WAKE_PARENT_OF = _WAKE.replace(
    "@WHICH", "p.id = (SELECT parent_id FROM {executions} WHERE id = %(id)s)"
)
# After a cancel, for the cancelled execution's parent.
WAKE_PARENT = _WAKE.replace("@WHICH", "p.id = %(parent_id)s")
# The safety net: a worker killed between a child's commit and its check
# leaves the parent waiting with nothing open; any claimer finds it here.
WAKE_STRANDED = _WAKE.replace("@WHICH", "true")

# -- events -------------------------------------------------------------------------

# Sent in one pipeline: the lock, then the offer, which writes only when the
# execution exists and is not final; offer_event() reads the status after.
LOCK_EXECUTION = "SELECT status FROM {executions} WHERE id = %(id)s FOR UPDATE"

OFFER_EVENT = """
WITH ins AS (
    INSERT INTO {events} (execution_id, name, payload, created_at)
    SELECT %(id)s, %(name)s, %(payload)s::json, %(now)s
    WHERE EXISTS (SELECT 1 FROM {executions}
                  WHERE id = %(id)s AND status <> ALL(%(final)s))
    ON CONFLICT (execution_id, name) DO NOTHING
    RETURNING execution_id
), woke AS (
    UPDATE {executions} e
    SET status = 'pending', wake_at = %(now)s, waiting_for = NULL, updated_at = %(now)s
    FROM ins
    WHERE e.id = ins.execution_id AND e.status = 'waiting' AND e.waiting_for = %(name)s
    RETURNING e.id
)
SELECT (SELECT count(*) FROM ins), (SELECT count(pg_notify(%(channel)s, '')) FROM woke)"""

# -- cancel -------------------------------------------------------------------------

# The execution and its unfinished descendants (a finished child's subtree is
# left alone, as in the memory store), locked in id order so two cancels of
# overlapping trees queue up instead of deadlocking.
_TREE = """
WITH RECURSIVE tree AS (
    SELECT id, status FROM {executions} WHERE id = %(id)s
    UNION ALL
    SELECT c.id, c.status FROM {executions} c JOIN tree t ON c.parent_id = t.id
    WHERE t.status <> ALL(%(final)s) AND c.status <> ALL(%(final)s)
)"""

LOCK_TREE = (
    _TREE
    + """
SELECT e.id, e.status, e.parent_id
FROM {executions} e JOIN tree USING (id)
ORDER BY e.id
FOR UPDATE OF e"""
)

# Re-walked after LOCK_TREE, in a fresh snapshot: a commit that was adding
# children while we waited for its row has finished by now.
CASCADE = (
    _TREE
    + """
UPDATE {executions} e
SET status = 'cancelled', token = e.token + 1, owner = NULL, wake_at = NULL,
    waiting_for = NULL, updated_at = %(now)s, output = NULL, error = %(error)s,
    record_status = 'cancelled'
FROM tree WHERE e.id = tree.id AND e.status <> ALL(%(final)s)"""
)


# -- parameters and rows ---------------------------------------------------------


def json_param(value: Any) -> Json | None:
    """A JSON document for a json parameter, written compactly (a json
    column keeps the text as given); None stays SQL NULL."""
    return None if value is None else Json(value, dumps=_compact)


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _compact(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``, the same text: an int or
    a str (the common step result) without an encoder, the rest through one
    encoder made once (json.dumps with separators makes one per call)."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return encode_basestring_ascii(value)
    return _ENCODER.encode(value)


def new_params(new: NewExecution, awaited: bool = False) -> dict[str, Any]:
    return {
        "id": new.id,
        "task_name": new.task_name,
        "kind": new.kind,
        "input": json_param(new.input),
        "parent_id": new.parent_id,
        "parent_step": new.parent_step,
        "awaited": awaited,
    }


def commit_params(
    lease: Lease, commit: Commit, now: datetime, *, finish: bool = False
) -> tuple[str, dict[str, Any]]:
    """The statement for a commit's records and its parameters. Not
    ``finish``: COMMIT_STEP or COMMIT_STEP_FIRST (one record, no state),
    COMMIT_ONE (one record and state) or COMMIT. ``finish``: COMMIT_FINISH,
    _ONE or _FIRST (several records, one, or one first write). The last
    write of a name wins, at the position of the first, as in memory."""
    records = commit.records
    writes = records if len(records) == 1 else list({w.name: w for w in records}.values())
    params: dict[str, Any] = {"id": lease.execution_id, "token": lease.token, "now": now}
    if commit.has_state or finish or len(writes) != 1:
        params["has_state"] = commit.has_state
        params["state"] = json_param(commit.state) if commit.has_state else None
    if len(writes) == 1:
        (w,) = writes
        # w_: a finish's own status and error are parameters too.
        params.update(
            w_name=w.name,
            w_seq=w.seq,
            w_kind=w.kind,
            w_status=w.status,
            w_step=w.step,
            w_result=json_param(w.result),
            w_error=json_param(w.error),
            w_attempts=w.attempts,
            w_wake_at=w.wake_at,
            w_child_id=w.child_id,
        )
        if finish:
            return ("COMMIT_FINISH_FIRST" if w.first else "COMMIT_FINISH_ONE"), params
        if commit.has_state:
            return "COMMIT_ONE", params
        return ("COMMIT_STEP_FIRST" if w.first else "COMMIT_STEP"), params
    params.update(
        names=[w.name for w in writes],
        seqs=[w.seq for w in writes],
        kinds=[w.kind for w in writes],
        statuses=[w.status for w in writes],
        steps=[w.step for w in writes],
        results=[json_param(w.result) for w in writes],
        errors=[json_param(w.error) for w in writes],
        attempts=[w.attempts for w in writes],
        wakes=[w.wake_at for w in writes],
        child_ids=[w.child_id for w in writes],
    )
    return ("COMMIT_FINISH" if finish else "COMMIT"), params


def finish_params(outcome: r.Complete | r.Fail) -> dict[str, Any]:
    if isinstance(outcome, r.Complete):
        output, error = json_param(outcome.output), None
        return {"status": r.COMPLETED, "rstatus": r.R_COMPLETED, "output": output, "error": error}
    rstatus = r.R_ERROR if outcome.business else r.R_FAILED
    return {
        "status": r.FAILED,
        "rstatus": rstatus,
        "output": None,
        "error": json_param(outcome.error),
    }


def suspend_params(s: r.Suspend) -> dict[str, Any]:
    waits = s.event is not None or bool(s.children)
    return {
        "event": s.event,
        "children": list(s.children),
        "final": FINAL,
        "status": r.WAITING if waits else r.SLEEPING,
        "wake_at": s.wake_at,
        "waiting_for": s.event if s.event is not None else ("children" if s.children else None),
    }


def execution_row(row: Sequence[Any]) -> ExecutionRecord:
    """An execution from the columns of ``EXEC_COLS``, in order."""
    return ExecutionRecord(
        id=row[0],
        task_name=row[1],
        kind=row[2],
        status=row[3],
        input=row[4],
        output=row[5],
        error=row[6],
        state=row[7],
        attempt=row[8],
        parent_id=row[9],
        parent_step=row[10],
        created_at=row[11],
        updated_at=row[12],
        wake_at=row[13],
        waiting_for=row[14],
        format_version=row[15],
    )


def step_row(row: Sequence[Any]) -> StepRecord:
    """A log record from a LOAD row."""
    return StepRecord(
        name=row[1],
        kind=row[2],
        status=row[3],
        seq=row[4],
        step=row[5],
        result=row[6],
        error=row[7],
        attempts=row[8],
        wake_at=row[9],
        child_id=row[10],
        created_at=row[11],
        updated_at=row[12],
    )
