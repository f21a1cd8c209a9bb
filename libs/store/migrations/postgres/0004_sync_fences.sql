-- The fencing of config-sync's leaders: per Kubernetes Lease, the highest term (the Lease's
-- transition count) a sync was applied under, and its holder. The same logical schema as
-- migrations/sqlite/0004_sync_fences.sql.

CREATE TABLE sync_fences (
    lease  TEXT        PRIMARY KEY,
    holder TEXT        NOT NULL,
    term   BIGINT      NOT NULL,
    time   TIMESTAMPTZ NOT NULL
);
