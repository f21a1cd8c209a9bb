-- An environment's installations move into its row: `installations` holds them as a JSON
-- array of {"language", "version", "path"} by language and position, and `installed` the
-- ` language=version … ` text that the list filters match (both written by the store, see
-- common::installations_json and common::installed_key). A sync of 100,000 environments then
-- writes a third of the rows.

ALTER TABLE environments ADD COLUMN installations TEXT NOT NULL DEFAULT '[]';
ALTER TABLE environments ADD COLUMN installed TEXT NOT NULL DEFAULT ' ';

UPDATE environments
SET installations = (
        SELECT json_group_array(json_object('language', language, 'version', version, 'path', path)
                                ORDER BY language, position)
        FROM installations i WHERE i.environment_id = environments.id),
    installed = (
        SELECT ' ' || group_concat(language || '=' || version, ' ' ORDER BY language, position) || ' '
        FROM installations i WHERE i.environment_id = environments.id)
WHERE id IN (SELECT environment_id FROM installations);

DROP TABLE installations;
