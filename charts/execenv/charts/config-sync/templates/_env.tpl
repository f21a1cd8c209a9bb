{{/*
config-sync's own settings. The file it reads comes from the ConfigMap <release>-config-sync-sources
that the umbrella chart writes: key `file` (EXECENV_SYNC__FILE, the executionEnvironments list) or
`legacy_file` (EXECENV_SYNC__LEGACY_FILE, the legacy runtime.yaml); a missing key leaves the variable
unset. So this pod template does not depend on the umbrella's values.
*/}}
{{- define "config-sync.env" -}}
{{- $sources := include "common.syncSourcesConfigMap" . -}}
- name: EXECENV_REGISTRY__URL
  value: {{ include "common.grpcUrl" (list . "environment-registry" .Values.registryUrl) | quote }}
{{- range $variable, $key := dict "EXECENV_SYNC__FILE" "file" "EXECENV_SYNC__LEGACY_FILE" "legacy_file" }}
- name: {{ $variable }}
  valueFrom:
    configMapKeyRef:
      name: {{ $sources }}
      key: {{ $key }}
      optional: true
{{- end }}
- name: EXECENV_SYNC__POLL_INTERVAL_MS
  value: {{ .Values.sync.pollIntervalMs | quote }}
- name: EXECENV_SYNC__DEBOUNCE_MS
  value: {{ .Values.sync.debounceMs | quote }}
- name: EXECENV_SYNC__STARTUP_TIMEOUT_MS
  value: {{ .Values.sync.startupTimeoutMs | quote }}
{{- if gt (int .Values.replicas) 1 }}
{{- /* Several replicas: one leader, elected with this Lease (templates/election.yaml); each
       pod's identity is its name (HOSTNAME). */}}
- name: EXECENV_ELECTION__LEASE
  value: {{ include "common.fullname" . | quote }}
- name: EXECENV_ELECTION__NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- end }}
{{- end -}}
