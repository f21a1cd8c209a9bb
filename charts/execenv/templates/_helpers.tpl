{{/*
Which file config-sync reads: "declarative" (the executionEnvironments list, also when it is empty,
so that emptying it removes the file-managed environments) or "legacy" (launcher.customRuntimeYaml,
only when executionEnvironments is empty).
*/}}
{{- define "execenv.syncMode" -}}
{{- if and (not .Values.executionEnvironments) .Values.launcher.customRuntimeYaml -}}
legacy
{{- else -}}
declarative
{{- end -}}
{{- end -}}

{{/* Both the declarative list and the legacy runtime.yaml are set: only the list is used. */}}
{{- define "execenv.legacyIgnored" -}}
{{- if and .Values.executionEnvironments .Values.launcher.customRuntimeYaml -}}true{{- end -}}
{{- end -}}

{{/* The namespace content Jobs run in (launcher.kubernetes.namespace), where the volumes' claims are. */}}
{{- define "execenv.contentNamespace" -}}
{{- dig "kubernetes" "namespace" "" (.Values.launcher | default dict) | default .Release.Namespace -}}
{{- end -}}

