{{/* Where the image examiner's secrets are mounted. */}}
{{- define "imageExaminer.credentialsDir" -}}/etc/execenv/registry-credentials{{- end -}}
{{- define "imageExaminer.caDir" -}}/etc/execenv/registry-ca{{- end -}}

{{/* The image examiner's own settings: the registry it watches, how it reads images. */}}
{{- define "imageExaminer.env" -}}
- name: EXECENV_REGISTRY__URL
  value: {{ include "common.grpcUrl" (list . "environment-registry" .Values.registryUrl) | quote }}
- name: EXECENV_EXAMINER__PLATFORM
  value: {{ .Values.platform | quote }}
- name: EXECENV_EXAMINER__CHECK_INTERVAL_S
  value: {{ .Values.checkIntervalSeconds | quote }}
{{- with .Values.insecureRegistries }}
- name: EXECENV_EXAMINER__INSECURE_REGISTRIES
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.caSecret }}
- name: EXECENV_EXAMINER__CA_FILES
  value: {{ printf "%s/ca.crt" (include "imageExaminer.caDir" .) | quote }}
{{- end }}
{{- if .Values.pullSecret }}
- name: EXECENV_EXAMINER__DOCKER_CONFIG
  value: {{ printf "%s/.dockerconfigjson" (include "imageExaminer.credentialsDir" .) | quote }}
{{- end }}
{{- end -}}

{{/* The volumes of the Secrets it reads (pullSecret, caSecret), as a YAML list. */}}
{{- define "imageExaminer.volumes" -}}
{{- if .Values.pullSecret }}
- name: registry-credentials
  secret:
    secretName: {{ .Values.pullSecret }}
    items:
      - key: .dockerconfigjson
        path: .dockerconfigjson
{{- end }}
{{- if .Values.caSecret }}
- name: registry-ca
  secret:
    secretName: {{ .Values.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}

{{/* Where those volumes are mounted, as a YAML list. */}}
{{- define "imageExaminer.volumeMounts" -}}
{{- if .Values.pullSecret }}
- name: registry-credentials
  mountPath: {{ include "imageExaminer.credentialsDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.caSecret }}
- name: registry-ca
  mountPath: {{ include "imageExaminer.caDir" . }}
  readOnly: true
{{- end }}
{{- end -}}
