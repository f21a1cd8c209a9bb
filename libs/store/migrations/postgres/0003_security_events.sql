-- Security audit events: API keys created and revoked, environment permissions added and
-- removed (each written in the same transaction as the change it records), and clients that
-- failed to sign in too often. The same logical schema as
-- migrations/sqlite/0003_security_events.sql. Ids increase in commit order (writers hold the
-- advisory lock), so a page resumes after the last id it returned.

CREATE TABLE security_events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time             TIMESTAMPTZ NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('api_key_created', 'api_key_revoked',
                         'permission_added', 'permission_removed', 'sign_in_failures')),
    actor            TEXT    NOT NULL,
    user_guid        TEXT,
    group_guid       TEXT,
    api_key_id       TEXT,
    api_key_prefix   TEXT,
    revocation       TEXT,
    environment_guid TEXT,
    permission_guid  TEXT,
    client_address   TEXT,
    failures         BIGINT  NOT NULL
);

CREATE INDEX security_events_time ON security_events (time);
