-- Identity: users, groups, group membership and API keys (the gateway authenticates people
-- with the keys). The same logical schema as migrations/sqlite/0002_identity.sql; names that
-- lists sort by use the "C" collation so orders are byte orders, as in SQLite.
--
-- An API key is stored only as the SHA-256 hex digest of its secret, with a short non-secret
-- prefix for listing; the secret itself is never written anywhere.

CREATE TABLE users (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guid         TEXT    NOT NULL UNIQUE,
    username     TEXT COLLATE "C" NOT NULL UNIQUE,
    email        TEXT,
    first_name   TEXT,
    last_name    TEXT,
    role         TEXT    NOT NULL CHECK (role IN ('administrator', 'publisher', 'viewer')),
    disabled     BOOLEAN NOT NULL,
    created_time TIMESTAMPTZ NOT NULL,
    updated_time TIMESTAMPTZ NOT NULL
);

CREATE TABLE groups (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guid         TEXT    NOT NULL UNIQUE,
    name         TEXT COLLATE "C" NOT NULL UNIQUE,
    created_time TIMESTAMPTZ NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE api_keys (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guid           TEXT    NOT NULL UNIQUE,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    prefix         TEXT    NOT NULL,
    digest         TEXT    NOT NULL UNIQUE,
    disabled       BOOLEAN NOT NULL,
    created_time   TIMESTAMPTZ NOT NULL,
    last_used_time TIMESTAMPTZ
);

CREATE INDEX api_keys_user ON api_keys (user_id);
