-- zart on SQLite, version 3: the log keyed by one integer.
--
-- Each execution gets a number, fixed at creation (rowids are not: VACUUM may
-- renumber them), and each record the key num << 32 | seq. The log is then a
-- rowid table: an execution's records are one key range, in seq order, and a
-- step commit appends at the end of that range. For a rowid B-tree SQLite
-- splits a full last page by starting a new one, so a commit writes about one
-- page; the (execution_id, name) B-tree of version 2 took new names in name
-- order and rebalanced sibling pages, about 1.8 pages per commit, and under
-- synchronous=FULL every page written is a page flushed.
--
-- Names stay unique per execution: the lease holder gives a new name the next
-- seq and an old name its old seq, and the upsert updates a key only when its
-- name matches (a clash is reported, never overwritten).

ALTER TABLE executions ADD COLUMN num INTEGER NOT NULL DEFAULT 0;
UPDATE executions SET num = rowid;
CREATE UNIQUE INDEX executions_num ON executions (num);

CREATE TABLE steps_v3 (
    key          INTEGER PRIMARY KEY,  -- executions.num << 32 | seq
    execution_id TEXT NOT NULL REFERENCES executions (id),
    name         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    step         TEXT,
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    wake_at      INTEGER,
    child_id     TEXT,
    awaited      INTEGER NOT NULL DEFAULT 0,  -- 1: its parent waits for this child
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

INSERT INTO steps_v3
    (key, execution_id, name, seq, kind, status, step, result, error, attempts, wake_at,
     child_id, awaited, created_at, updated_at)
SELECT (e.num << 32) + s.seq, s.execution_id, s.name, s.seq, s.kind, s.status, s.step,
       s.result, s.error, s.attempts, s.wake_at, s.child_id, s.awaited, s.created_at,
       s.updated_at
  FROM steps s JOIN executions e ON e.id = s.execution_id;

DROP TABLE steps;
ALTER TABLE steps_v3 RENAME TO steps;
