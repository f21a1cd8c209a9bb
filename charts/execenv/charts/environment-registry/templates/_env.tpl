{{/*
The registry's own settings: the database (SQLite on the data volume, or the PostgreSQL URL from
a Secret), change-log retention and the change-feed poll interval.
*/}}
{{- define "environment-registry.env" -}}
{{- $values := .ctx.Values -}}
{{- if .sqlite }}
- name: EXECENV_DATABASE__URL
  value: "sqlite:///var/lib/execenv/registry.db"
{{- else }}
{{- $postgres := dig "postgres" dict .database }}
- name: EXECENV_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ required "global.database.postgres.existingSecret is required with global.database.type=postgres: name the Secret holding the PostgreSQL URL" $postgres.existingSecret }}
      key: {{ $postgres.key | default "url" }}
{{- end }}
- name: EXECENV_HISTORY__RETENTION_DAYS
  value: {{ $values.history.retentionDays | quote }}
- name: EXECENV_HISTORY__COMPACT_INTERVAL_SECONDS
  value: {{ $values.history.compactIntervalSeconds | quote }}
- name: EXECENV_WATCH__POLL_INTERVAL_MS
  value: {{ $values.watch.pollIntervalMs | quote }}
{{- end -}}
