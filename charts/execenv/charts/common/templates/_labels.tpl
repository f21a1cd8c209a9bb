{{/* The labels a Service selects pods by. */}}
{{- define "common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "common.labels" -}}
helm.sh/chart: {{ printf "%s-%s" (include "common.name" .) .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "common.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: execenv
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The metadata every object of this chart starts with: name, namespace and labels. */}}
{{- define "common.metadata" -}}
name: {{ include "common.fullname" . }}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "common.labels" . | nindent 2 }}
{{- end -}}
