-- Security audit events: API keys created and revoked, environment permissions added and
-- removed (each written in the same transaction as the change it records), and clients that
-- failed to sign in too often. Same conventions as 0001: times are INTEGER microseconds since
-- the Unix epoch, GUIDs are lower-case hyphenated UUID text. Ids increase in commit order
-- (writers are serialised), so a page resumes after the last id it returned.

CREATE TABLE security_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    time             INTEGER NOT NULL,
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
    failures         INTEGER NOT NULL
);

CREATE INDEX security_events_time ON security_events (time);
