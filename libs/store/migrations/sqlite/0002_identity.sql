-- Identity: users, groups, group membership and API keys (the gateway authenticates people
-- with the keys). Same conventions as 0001: times are INTEGER microseconds since the Unix
-- epoch, GUIDs are lower-case hyphenated UUID text.
--
-- An API key is stored only as the SHA-256 hex digest of its secret, with a short non-secret
-- prefix for listing; the secret itself is never written anywhere.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    guid         TEXT    NOT NULL UNIQUE,
    username     TEXT    NOT NULL UNIQUE,
    email        TEXT,
    first_name   TEXT,
    last_name    TEXT,
    role         TEXT    NOT NULL CHECK (role IN ('administrator', 'publisher', 'viewer')),
    disabled     INTEGER NOT NULL,
    created_time INTEGER NOT NULL,
    updated_time INTEGER NOT NULL
);

CREATE TABLE groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    guid         TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL UNIQUE,
    created_time INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guid           TEXT    NOT NULL UNIQUE,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    prefix         TEXT    NOT NULL,
    digest         TEXT    NOT NULL UNIQUE,
    disabled       INTEGER NOT NULL,
    created_time   INTEGER NOT NULL,
    last_used_time INTEGER
);

CREATE INDEX api_keys_user ON api_keys (user_id);
