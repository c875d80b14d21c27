-- zart on PostgreSQL, version 6: reads that stay index walks on a large
-- table.
--
-- A listing filtered by status, by task or by both walks one index range
-- newest first and stops at its LIMIT: each index ends in (created_at, id),
-- the listing's whole order, so no sort runs, not even an incremental one
-- over equal created_at (children created in one commit share it). The
-- task and status index also gives status_counts and counts(task) an
-- index-only scan in group order.

DROP INDEX {executions_status};
CREATE INDEX {name_executions_status} ON {executions} (status, created_at, id);
DROP INDEX {executions_task};
CREATE INDEX {name_executions_task} ON {executions} (task_name, created_at, id);
CREATE INDEX {name_executions_task_status} ON {executions} (task_name, status, created_at, id);
