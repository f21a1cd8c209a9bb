{{/*
Optional objects, switched on in global: a ServiceMonitor (Prometheus Operator) scraping the
`metrics` port, a PodDisruptionBudget and a NetworkPolicy. Each renders nothing when off.
*/}}

{{- define "common.serviceMonitor" -}}
{{- $sm := dig "serviceMonitor" dict (include "common.global" . | fromYaml) -}}
{{- if $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ $sm.namespace | default .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .Release.Namespace }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: metrics
      path: /metrics
      {{- with $sm.interval }}
      interval: {{ . }}
      {{- end }}
      {{- with $sm.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "common.podDisruptionBudget" -}}
{{- $pdb := dig "podDisruptionBudget" dict (include "common.global" . | fromYaml) -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "common.metadata" . | nindent 2 }}
spec:
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
Ingress to a service: its API port from execenv's own pods of this release (and from
global.networkPolicy.apiFrom; the gateway's HTTP port from httpFrom, everyone when empty), its
metrics port from metricsFrom (everyone when empty). Egress is not restricted.
*/}}
{{- define "common.networkPolicy" -}}
{{- $np := dig "networkPolicy" dict (include "common.global" . | fromYaml) -}}
{{- if $np.enabled }}
{{- $ports := include "common.ports" . | fromYaml -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "common.metadata" . | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    {{- if hasKey $ports "grpc" }}
    - ports:
        - port: grpc
          protocol: TCP
      from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: {{ .Release.Name }}
              app.kubernetes.io/part-of: execenv
        {{- with $np.apiFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- else }}
    - ports:
        - port: http
          protocol: TCP
      {{- with $np.httpFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    - ports:
        - port: metrics
          protocol: TCP
      {{- with $np.metricsFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The optional objects of a service that are switched on, as separate documents; nothing when none is. */}}
{{- define "common.optionalObjects" -}}
{{- $documents := list -}}
{{- range $template := list "common.serviceMonitor" "common.podDisruptionBudget" "common.networkPolicy" -}}
{{- with include $template $ | trim -}}
{{- $documents = append $documents . -}}
{{- end -}}
{{- end -}}
{{- join "\n---\n" $documents -}}
{{- end -}}
