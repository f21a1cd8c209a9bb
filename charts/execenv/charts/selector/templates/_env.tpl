{{/* The selector's own settings: the registry it watches, the image examiner whose checks it follows (empty when it is not deployed) and how versions are matched. */}}
{{- define "selector.env" -}}
- name: EXECENV_REGISTRY__URL
  value: {{ include "common.grpcUrl" (list . "environment-registry" .Values.registryUrl) | quote }}
- name: EXECENV_EXAMINER__URL
  value: {{ include "common.examinerUrl" (list . .Values.examinerUrl) | quote }}
- name: EXECENV_SELECTION__PYTHON_VERSION_MATCHING
  value: {{ .Values.selection.pythonVersionMatching | quote }}
- name: EXECENV_SELECTION__R_VERSION_MATCHING
  value: {{ .Values.selection.rVersionMatching | quote }}
- name: EXECENV_SELECTION__QUARTO_VERSION_MATCHING
  value: {{ .Values.selection.quartoVersionMatching | quote }}
{{- end -}}
