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
- name: EXECENV_DATABASE__URL
  valueFrom:
    {{- include "common.postgresUrlFrom" .ctx | nindent 4 }}
{{- end }}
- name: EXECENV_HISTORY__RETENTION_DAYS
  value: {{ $values.history.retentionDays | quote }}
- name: EXECENV_HISTORY__COMPACT_INTERVAL_SECONDS
  value: {{ $values.history.compactIntervalSeconds | quote }}
- name: EXECENV_WATCH__POLL_INTERVAL_MS
  value: {{ $values.watch.pollIntervalMs | quote }}
{{- end -}}
