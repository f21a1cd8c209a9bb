{{/* The selector's own settings: the registry it watches and how versions are matched. */}}
{{- define "selector.env" -}}
- name: EXECENV_REGISTRY__URL
  value: {{ include "common.grpcUrl" (list . "environment-registry" .Values.registryUrl) | quote }}
- name: EXECENV_SELECTION__PYTHON_VERSION_MATCHING
  value: {{ .Values.selection.pythonVersionMatching | quote }}
- name: EXECENV_SELECTION__R_VERSION_MATCHING
  value: {{ .Values.selection.rVersionMatching | quote }}
- name: EXECENV_SELECTION__QUARTO_VERSION_MATCHING
  value: {{ .Values.selection.quartoVersionMatching | quote }}
{{- end -}}
