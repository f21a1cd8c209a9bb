-- The fencing of config-sync's leaders: per Kubernetes Lease, the highest term (the Lease's
-- transition count) a sync was applied under, and its holder. A sync carrying a lower term is
-- refused in its own transaction (a deposed leader cannot apply after its successor). Times
-- are INTEGER microseconds since the Unix epoch, as in 0001.

CREATE TABLE sync_fences (
    lease  TEXT    PRIMARY KEY,
    holder TEXT    NOT NULL,
    term   INTEGER NOT NULL,
    time   INTEGER NOT NULL
);
