-- zart PostgreSQL schema, version 2: a finishing child no longer locks its parent.
--
-- Version 1 kept a count of open awaited children on the parent row
-- (awaiting), so every finishing child locked that row and held the lock
-- through its commit: a thousand children of one parent committed one after
-- another. Now a child writes only its own row and its record in the
-- parent's log, and after its commit a statement of its own wakes the
-- parent when no awaited record is open any more (see postgres_sql.WAKE_*).

ALTER TABLE {executions} DROP COLUMN awaiting;

-- The open awaited records of a parent: what each finishing child's check
-- looks for, in a handful of index entries rather than the parent's whole log.
-- The status list is records.R_FINAL (a test holds the two together).
CREATE INDEX {name_records_open_awaited} ON {records} (execution_id, seq)
    WHERE awaited AND status NOT IN ('cancelled', 'completed', 'error', 'failed', 'timed_out');

-- Parents waiting on children: what the periodic check for a wake-up lost
-- to a crash (a worker killed between a child's commit and its check) scans.
CREATE INDEX {name_executions_awaiting_children} ON {executions} (id)
    WHERE status = 'waiting' AND waiting_for = 'children';
