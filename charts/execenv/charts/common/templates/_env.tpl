{{/*
The settings every service reads the same way (libs/kit): where it listens, logs, traces and the
service token. API port variable: EXECENV_SERVER__GRPC_ADDR, or EXECENV_SERVER__HTTP_ADDR for the
gateway.
*/}}
{{- define "common.env" -}}
{{- $ports := include "common.ports" . | fromYaml -}}
{{- $global := include "common.global" . | fromYaml -}}
{{- $telemetry := dig "telemetry" dict $global -}}
{{- if hasKey $ports "grpc" }}
- name: EXECENV_SERVER__GRPC_ADDR
  value: {{ printf "0.0.0.0:%v" $ports.grpc | quote }}
{{- else }}
- name: EXECENV_SERVER__HTTP_ADDR
  value: {{ printf "0.0.0.0:%v" $ports.http | quote }}
{{- end }}
- name: EXECENV_SERVER__ADMIN_ADDR
  value: {{ printf "0.0.0.0:%v" $ports.metrics | quote }}
{{- with $telemetry.logLevel }}
- name: EXECENV_TELEMETRY__LOG_LEVEL
  value: {{ . | quote }}
{{- end }}
{{- with $telemetry.logFormat }}
- name: EXECENV_TELEMETRY__LOG_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- with $telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if dig "serviceToken" "enabled" false $global }}
- name: EXECENV_AUTH__SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "common.serviceTokenSecret" . }}
      key: {{ dig "serviceToken" "key" "" $global | default "token" }}
- name: EXECENV_AUTH__PREVIOUS_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "common.serviceTokenSecret" . }}
      key: {{ dig "serviceToken" "previousKey" "" $global | default "previous" }}
      optional: true
{{- end }}
{{- if dig "tls" "enabled" false $global }}
- name: EXECENV_TLS__CERT_FILE
  value: {{ include "common.tlsDir" . }}/tls.crt
- name: EXECENV_TLS__KEY_FILE
  value: {{ include "common.tlsDir" . }}/tls.key
- name: EXECENV_TLS__CA_FILE
  value: {{ include "common.tlsDir" . }}/ca.crt
{{- if and (dig "tls" "mutual" false $global) (hasKey $ports "grpc") }}
- name: EXECENV_TLS__CLIENT_CA_FILE
  value: {{ include "common.tlsDir" . }}/ca.crt
{{- end }}
{{- /* For the execenvctl of the image (kubectl exec … execenvctl): the registry over TLS,
       presenting this pod's certificate under mutual TLS (the services do so by default). */}}
- name: EXECENV_REGISTRY
  value: {{ include "common.grpcUrl" (list . "environment-registry" "") | quote }}
{{- if dig "tls" "mutual" false $global }}
- name: EXECENV_TLS__CLIENT_CERT_FILE
  value: {{ include "common.tlsDir" . }}/tls.crt
- name: EXECENV_TLS__CLIENT_KEY_FILE
  value: {{ include "common.tlsDir" . }}/tls.key
{{- end }}
{{- end }}
{{- end -}}
