{{/*
The catalogue's database (global.database), for the services that open it: the registry, and
the launcher for its launch history when it is PostgreSQL.
*/}}

{{/* "true" when global.database.type is postgres, else "" (SQLite, the default). */}}
{{- define "common.postgres" -}}
{{- if eq (dig "database" "type" "sqlite" (include "common.global" . | fromYaml)) "postgres" -}}true{{- end -}}
{{- end -}}

{{/* The valueFrom of a variable holding the PostgreSQL URL: global.database.postgres's Secret and key. */}}
{{- define "common.postgresUrlFrom" -}}
{{- $postgres := dig "database" "postgres" dict (include "common.global" . | fromYaml) -}}
secretKeyRef:
  name: {{ required "global.database.postgres.existingSecret is required with global.database.type=postgres: name the Secret holding the PostgreSQL URL" $postgres.existingSecret }}
  key: {{ $postgres.key | default "url" }}
{{- end -}}

{{/*
Stops the release when a service whose pods share state through the database asks for more than
one pod on SQLite, naming the value, why and the fix:
include "common.severalPodsNeedPostgres" (list $ "one SQLite file is opened by one pod only")
*/}}
{{- define "common.severalPodsNeedPostgres" -}}
{{- $ctx := index . 0 -}}
{{- $replicas := int $ctx.Values.replicas -}}
{{- if and (gt $replicas 1) (not (include "common.postgres" $ctx)) -}}
{{- fail (printf "%s.replicas is %d, but global.database.type is sqlite: %s. Set global.database.type=postgres and global.database.postgres.existingSecret (values-ha.yaml does), or %s.replicas=1." (include "common.name" $ctx) $replicas (index . 1) (include "common.name" $ctx)) -}}
{{- end -}}
{{- end -}}
