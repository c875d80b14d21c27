-- zart on SQLite, version 2: the log keyed by its primary key alone.
--
-- A WITHOUT ROWID table stores each row in its primary key's B-tree, so a
-- step commit writes one tree instead of two (a rowid table plus the index
-- behind PRIMARY KEY (execution_id, name)). Step commits also stop writing
-- the execution row: the lease holder numbers its records, and
-- executions.seq now only keeps the highest seq given before a retry
-- dropped failed records, so that their names come back with new ones.

CREATE TABLE steps_v2 (
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
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, name)
) WITHOUT ROWID;

INSERT INTO steps_v2
    (execution_id, name, seq, kind, status, step, result, error, attempts, wake_at,
     child_id, awaited, created_at, updated_at)
SELECT execution_id, name, seq, kind, status, step, result, error, attempts, wake_at,
       child_id, awaited, created_at, updated_at
  FROM steps;

DROP TABLE steps;
ALTER TABLE steps_v2 RENAME TO steps;
