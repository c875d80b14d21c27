-- zart on SQLite, version 6: recurring schedules (zart.schedules).
-- Times are INTEGER microseconds since the epoch, durations INTEGER
-- microseconds; next_fire_at is when the next tick starts, so due
-- schedules are one range of one index.

CREATE TABLE schedules (
    id                TEXT PRIMARY KEY,
    task_name         TEXT NOT NULL,
    input             TEXT,
    cron              TEXT,
    every_us          INTEGER,
    timezone          TEXT NOT NULL,
    overlap           TEXT NOT NULL,
    catchup_us        INTEGER NOT NULL,
    jitter_us         INTEGER NOT NULL,
    paused            INTEGER NOT NULL,
    next_tick         INTEGER NOT NULL,
    next_fire_at      INTEGER NOT NULL,
    last_tick         INTEGER,
    last_execution_id TEXT,
    buffered_tick     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
