-- zart on SQLite, version 5: reads that stay index walks on a large table.
--
-- A listing filtered by status, by task or by both walks one index range
-- newest first and stops at its LIMIT: each index ends in (created_at, id),
-- the listing's whole order, so no sort runs, not even over equal
-- created_at (children created in one commit share it). The task and
-- status index also gives status_counts and counts(task) their groups in
-- index order, read from the index alone.

DROP INDEX executions_status;
CREATE INDEX executions_status ON executions (status, created_at, id);
DROP INDEX executions_task;
CREATE INDEX executions_task ON executions (task_name, created_at, id);
CREATE INDEX executions_task_status ON executions (task_name, status, created_at, id);
