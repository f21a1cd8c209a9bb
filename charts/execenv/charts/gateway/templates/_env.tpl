{{/* The gateway's own settings: the services it calls (config-sync for the console's sync status, the image examiner for images and drift; empty when it is not deployed), the host name it reports, the bundles' folder. */}}
{{- define "gateway.env" -}}
- name: EXECENV_REGISTRY__URL
  value: {{ include "common.grpcUrl" (list . "environment-registry" .Values.registryUrl) | quote }}
- name: EXECENV_SELECTOR__URL
  value: {{ include "common.grpcUrl" (list . "selector" .Values.selectorUrl) | quote }}
- name: EXECENV_LAUNCHER__URL
  value: {{ include "common.grpcUrl" (list . "launcher" .Values.launcherUrl) | quote }}
- name: EXECENV_CONFIG_SYNC__URL
  value: {{ include "common.grpcUrl" (list . "config-sync" .Values.configSyncUrl) | quote }}
- name: EXECENV_EXAMINER__URL
  value: {{ include "common.examinerUrl" (list . .Values.examinerUrl) | quote }}
- name: EXECENV_BUNDLES__DIR
  value: {{ include "common.gatewayBundlesDir" . | quote }}
{{- with .Values.hostname }}
- name: EXECENV_SERVER__HOSTNAME
  value: {{ . | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.content.idleTimeoutSeconds) }}
- name: EXECENV_CONTENT__IDLE_TIMEOUT_S
  value: {{ .Values.content.idleTimeoutSeconds | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.content.startTimeoutSeconds) }}
- name: EXECENV_CONTENT__START_TIMEOUT_S
  value: {{ .Values.content.startTimeoutSeconds | quote }}
{{- end }}
{{- end -}}
