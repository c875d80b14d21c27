-- zart on PostgreSQL, version 7: recurring schedules (zart.schedules).
-- Durations are bigint microseconds; next_fire_at is when the next tick
-- starts, so due schedules are one range of one index.

CREATE TABLE {schedules} (
    id                text        PRIMARY KEY,
    task_name         text        NOT NULL,
    input             json,
    cron              text,
    every_us          bigint,
    timezone          text        NOT NULL,
    overlap           text        NOT NULL,
    catchup_us        bigint      NOT NULL,
    jitter_us         bigint      NOT NULL,
    paused            boolean     NOT NULL,
    next_tick         timestamptz NOT NULL,
    next_fire_at      timestamptz NOT NULL,
    last_tick         timestamptz,
    last_execution_id text,
    buffered_tick     timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX {name_schedules_due} ON {schedules} (next_fire_at) WHERE NOT paused;
