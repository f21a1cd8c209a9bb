-- An environment's installations move into its row: `installations` holds them as a JSON
-- array of {"language", "version", "path"} by language and position, and `installed` the
-- ` language=version … ` text that the list filters match (both written by the store, see
-- common::installations_json and common::installed_key). A sync of 100,000 environments then
-- writes a third of the rows, with no foreign-key check per installation.

ALTER TABLE environments
    ADD COLUMN installations TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN installed TEXT COLLATE "C" NOT NULL DEFAULT ' ';

UPDATE environments e
SET installations = i.list, installed = i.keys
FROM (
    SELECT environment_id,
           json_agg(json_build_object('language', language, 'version', version, 'path', path)
                    ORDER BY language, position)::text AS list,
           ' ' || string_agg(language || '=' || version, ' ' ORDER BY language, position) || ' '
               AS keys
    FROM installations
    GROUP BY environment_id
) i
WHERE e.id = i.environment_id;

ALTER TABLE environments
    ALTER COLUMN installations DROP DEFAULT,
    ALTER COLUMN installed DROP DEFAULT;

DROP TABLE installations;
