-- zart PostgreSQL schema, version 3: a finishing child writes only its own row.
--
-- Version 2 wrote each child's outcome into its record in the parent's log:
-- a thousand children of one parent updated a thousand rows on the same few
-- pages, each a new row version with an index entry, and waited on each
-- other's page locks and on a third more WAL per finish than an execution
-- with no parent. Now a child's row carries what its record in the parent's
-- log says once it is final (record_status, with its output, error and
-- updated_at), and reading a log joins the two (see postgres_sql.LOAD).
-- Whether the parent waits on a child moves to the child's row too
-- (awaited): that row is what a finishing child and its parent's suspend
-- meet on (see postgres_sql.SUSPEND).

ALTER TABLE {executions}
    ADD COLUMN awaited boolean NOT NULL DEFAULT false,
    ADD COLUMN record_status text;

-- Parents waiting now keep waiting on the same children. (Children that
-- finished before this migration wrote their records: record_status NULL
-- reads the record.)
UPDATE {executions} c SET awaited = true
FROM {records} r
WHERE r.child_id = c.id AND r.execution_id = c.parent_id AND r.awaited;

DROP INDEX {records_open_awaited};
ALTER TABLE {records} DROP COLUMN awaited;

-- A parent's children in creation order: what a cancel cascades through,
-- list(parent_id=...) reads, and a finishing child's check scans, newest
-- first, for one still open and awaited (children mostly finish in the
-- order they were scheduled, so it turns up at once). One index for all
-- three: each index on executions costs every claim and finish of a child
-- an entry, since those updates change indexed columns.
DROP INDEX {executions_parent};
CREATE INDEX {name_executions_parent} ON {executions} (parent_id, row_order)
    WHERE parent_id IS NOT NULL;
