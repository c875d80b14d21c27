-- zart on MySQL/MariaDB: the schema a new database gets (version 2).
-- Older databases reach the same schema through migrations/ (a test holds
-- the two together).
--
-- Names in braces are filled in before the text runs: {executions}
-- {records} {events} {messages} {workers} {bell} {schedules} are the tables (quoted,
-- with the store's prefix), {name_x} is the bare name "<prefix>x" for
-- indexes, and {collation} the binary, no-pad collation of the server
-- (utf8mb4_nopad_bin on MariaDB, utf8mb4_0900_bin on MySQL): ids and names
-- compare as the exact strings they are, case and trailing spaces included.
--
-- Times are DATETIME(6) in UTC, set from the server's clock (see the
-- store). Documents (inputs, results, errors) are LONGTEXT holding JSON,
-- checked by JSON_VALID: the text comes back exactly as written, as on the
-- other stores (MySQL's own JSON type would rewrite it).

-- One row per execution. wake_at is "due at" for every claimable status
-- (pending, sleeping, waiting with a deadline, and running, where it is the
-- lease expiry) and NULL otherwise, so due work is one range of one index
-- (NULLs sort first, outside every "wake_at <= now" range). row_order is
-- the creation order. A child's row carries what its record in the
-- parent's log reads as once it ended (record_status), and whether the
-- parent waits on it (awaited).
CREATE TABLE {executions} (
    id              VARCHAR(255) NOT NULL,
    row_order       BIGINT       NOT NULL AUTO_INCREMENT,
    task_name       VARCHAR(255) NOT NULL,
    kind            VARCHAR(32)  NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    input           LONGTEXT     CHECK (JSON_VALID(input)),
    output          LONGTEXT     CHECK (JSON_VALID(output)),
    error           LONGTEXT     CHECK (JSON_VALID(error)),
    state           LONGTEXT     CHECK (JSON_VALID(state)),
    attempt         INT          NOT NULL DEFAULT 0,
    parent_id       VARCHAR(255),
    parent_step     VARCHAR(255),
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    wake_at         DATETIME(6),
    waiting_for     VARCHAR(300),            -- an event name, 'children' or 'topic:<topic>'
    token           BIGINT       NOT NULL DEFAULT 0,  -- bumped by every claim and cancel
    owner           VARCHAR(255),            -- the worker holding the lease
    seq             INT          NOT NULL DEFAULT 0,  -- the highest seq its log has given
    format_version  INT          NOT NULL DEFAULT 1,
    awaited         BOOLEAN      NOT NULL DEFAULT FALSE,
    record_status   VARCHAR(16),
    run             INT          NOT NULL DEFAULT 1,
    root_id         VARCHAR(255),
    trace           LONGTEXT     CHECK (JSON_VALID(trace)),
    PRIMARY KEY (id),
    UNIQUE KEY {name_executions_order} (row_order),
    -- Due work in claim order.
    KEY {name_executions_due} (wake_at, created_at, row_order),
    -- The same for one task: a worker claims task by task (see queries.sql).
    KEY {name_executions_task_due} (task_name, wake_at, created_at, row_order),
    KEY {name_executions_root} (root_id, wake_at),
    KEY {name_executions_parent} (parent_id, row_order),
    -- Listings newest first, filtered by nothing, a status, a task or both.
    KEY {name_executions_created} (created_at, id),
    KEY {name_executions_status} (status, created_at, id),
    KEY {name_executions_task} (task_name, created_at, id),
    KEY {name_executions_task_status} (task_name, status, created_at, id),
    CONSTRAINT {name_executions_status_check} CHECK (status IN
        ('pending', 'running', 'sleeping', 'waiting', 'stalled', 'completed', 'failed', 'cancelled'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};

-- The log, per run, keyed by name. seq is fixed when a name is first written.
CREATE TABLE {records} (
    execution_id      VARCHAR(255) NOT NULL,
    run               INT          NOT NULL DEFAULT 1,
    name              VARCHAR(255) NOT NULL,
    seq               INT          NOT NULL,
    kind              VARCHAR(32)  NOT NULL,
    status            VARCHAR(16)  NOT NULL,
    step              TEXT,
    result            LONGTEXT     CHECK (JSON_VALID(result)),
    error             LONGTEXT     CHECK (JSON_VALID(error)),
    attempts          INT          NOT NULL DEFAULT 0,
    errors            LONGTEXT     CHECK (JSON_VALID(errors)),  -- every failed attempt
    wake_at           DATETIME(6),
    child_id          VARCHAR(255),
    execution_attempt INT          NOT NULL DEFAULT 0,
    started_at        DATETIME(6),
    created_at        DATETIME(6)  NOT NULL,
    updated_at        DATETIME(6)  NOT NULL,
    PRIMARY KEY (execution_id, run, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};

-- Offered events: the first payload under a name wins.
CREATE TABLE {events} (
    execution_id VARCHAR(255) NOT NULL,
    name         VARCHAR(255) NOT NULL,
    row_order    BIGINT       NOT NULL AUTO_INCREMENT,
    payload      LONGTEXT     CHECK (JSON_VALID(payload)),
    created_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (execution_id, name),
    UNIQUE KEY {name_events_order} (row_order)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};

CREATE TABLE {messages} (
    id           BIGINT       NOT NULL AUTO_INCREMENT,  -- the order of sending
    execution_id VARCHAR(255) NOT NULL,
    topic        VARCHAR(255) NOT NULL,
    payload      LONGTEXT     CHECK (JSON_VALID(payload)),
    consumed     BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at   DATETIME(6)  NOT NULL,
    idempotency_key VARCHAR(255) NULL,  -- unique within the execution: a send tried again stores once
    PRIMARY KEY (id),
    KEY {name_messages_open} (execution_id, consumed, topic, id),
    UNIQUE KEY {name_messages_key} (execution_id, idempotency_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};

CREATE TABLE {workers} (
    id           VARCHAR(255) NOT NULL,
    host         VARCHAR(255) NOT NULL,
    pid          INT          NOT NULL,
    tasks        LONGTEXT     NOT NULL CHECK (JSON_VALID(tasks)),
    concurrency  INT          NOT NULL,
    started_at   DATETIME(6)  NOT NULL,
    heartbeat_at DATETIME(6)  NOT NULL,
    expires_at   DATETIME(6)  NOT NULL,  -- past it, the worker counts as dead
    inflight     INT          NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};

-- The wake-up bell (wake.py): one counter, bumped after commits that make
-- work due, read as 0 until first rung. InnoDB, not MEMORY: a waiter reads
-- it in the statement it then sleeps in, and a MEMORY table would stay
-- locked for the whole sleep, holding every ringer up.
CREATE TABLE {bell} (
    id   TINYINT NOT NULL,
    rung BIGINT  NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;

-- Recurring schedules (zart.schedules). Durations are microseconds;
-- next_fire_at is when the next tick starts, so due schedules are one
-- range of one index.
CREATE TABLE {schedules} (
    id                VARCHAR(255) NOT NULL,
    task_name         VARCHAR(255) NOT NULL,
    input             LONGTEXT     CHECK (JSON_VALID(input)),
    cron              VARCHAR(255),
    every_us          BIGINT,
    timezone          VARCHAR(255) NOT NULL,
    overlap           VARCHAR(32)  NOT NULL,
    catchup_us        BIGINT       NOT NULL,
    jitter_us         BIGINT       NOT NULL,
    paused            BOOLEAN      NOT NULL,
    next_tick         DATETIME(6)  NOT NULL,
    next_fire_at      DATETIME(6)  NOT NULL,
    last_tick         DATETIME(6),
    last_execution_id VARCHAR(255),
    buffered_tick     DATETIME(6),
    created_at        DATETIME(6)  NOT NULL,
    updated_at        DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY {name_schedules_due} (paused, next_fire_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {collation};
