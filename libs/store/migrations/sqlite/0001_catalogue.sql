-- The catalogue: environments, their installations, volume mounts and permissions, and the
-- change log.
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact, compact and ordered.
-- The store truncates times to microseconds before writing, so a value read back equals the
-- value written (and PostgreSQL, whose TIMESTAMPTZ has microsecond precision, agrees).
-- GUIDs are lower-case hyphenated UUID text.

CREATE TABLE environments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guid             TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    title            TEXT,
    description      TEXT,
    cluster_name     TEXT    NOT NULL,
    environment_type TEXT    NOT NULL,
    matching         TEXT    NOT NULL CHECK (matching IN ('any', 'exact', 'none')),
    supervisor       TEXT,
    managed_by       TEXT,
    created_time     INTEGER NOT NULL,
    updated_time     INTEGER NOT NULL,
    revision         INTEGER NOT NULL,
    -- Derived from the fields above by execenv_core::query, for filtering and sorting.
    search_text      TEXT    NOT NULL,
    title_key        TEXT    NOT NULL,
    python_key       TEXT    NOT NULL,
    r_key            TEXT    NOT NULL,
    quarto_key       TEXT    NOT NULL
);

CREATE INDEX environments_name ON environments (name);
CREATE INDEX environments_title_key ON environments (title_key, id);
CREATE INDEX environments_created ON environments (created_time, id);
CREATE INDEX environments_updated ON environments (updated_time, id);

CREATE TABLE installations (
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    language       TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    version        TEXT    NOT NULL,
    path           TEXT    NOT NULL,
    PRIMARY KEY (environment_id, language, position)
);

CREATE INDEX installations_language ON installations (language, version);

CREATE TABLE volume_mounts (
    environment_id  INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    source_type     TEXT    NOT NULL CHECK (source_type IN ('nfs', 'pvc')),
    nfs_host        TEXT,
    nfs_export_path TEXT,
    pvc_name        TEXT,
    target_path     TEXT    NOT NULL,
    read_only       INTEGER NOT NULL,
    PRIMARY KEY (environment_id, position)
);

CREATE TABLE permissions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guid           TEXT    NOT NULL UNIQUE,
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    user_guid      TEXT,
    group_guid     TEXT,
    CHECK ((user_guid IS NULL) <> (group_guid IS NULL)),
    UNIQUE (environment_id, user_guid),
    UNIQUE (environment_id, group_guid)
);

CREATE INDEX permissions_user ON permissions (user_guid);
CREATE INDEX permissions_group ON permissions (group_guid);

-- Revisions are assigned by the store (newest + 1) inside a write transaction that holds the
-- database write lock, so they are gap-free and in commit order.
CREATE TABLE changes (
    revision         INTEGER PRIMARY KEY,
    time             INTEGER NOT NULL,
    actor            TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    environment_guid TEXT    NOT NULL,
    before_json      TEXT,
    after_json       TEXT
);

CREATE INDEX changes_environment ON changes (environment_guid, revision);
CREATE INDEX changes_time ON changes (time);

CREATE TABLE log_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    compacted_through INTEGER NOT NULL
);

INSERT INTO log_state (id, compacted_through) VALUES (1, 0);
