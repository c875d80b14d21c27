-- zart PostgreSQL schema, version 4: documents are kept as written.
--
-- jsonb stores a document in its own form, not as it came: it sorts object
-- keys (shortest first) and keeps numbers as numeric, so 1e16 reads back as
-- the integer 10000000000000000 and -0.0 as 0.0. A workflow sees a step's
-- result as the interpreter handed it over on the live pass, and as the
-- store gives it back on every replay: under jsonb the two differed, and a
-- step named from such a value ran twice under two names. json keeps the
-- text it was given (checked to be JSON), so what is read back is what was
-- written, as on SQLite and in memory. zart never looks inside these
-- documents in SQL, so jsonb's operators and indexes were not in use.

ALTER TABLE {executions}
    ALTER COLUMN input TYPE json USING input::json,
    ALTER COLUMN output TYPE json USING output::json,
    ALTER COLUMN error TYPE json USING error::json,
    ALTER COLUMN state TYPE json USING state::json;

ALTER TABLE {records}
    ALTER COLUMN result TYPE json USING result::json,
    ALTER COLUMN error TYPE json USING error::json;

ALTER TABLE {events}
    ALTER COLUMN payload TYPE json USING payload::json;
