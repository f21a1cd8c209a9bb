{{/*
Optional objects: a ServiceMonitor (Prometheus Operator) scraping the `metrics` port and a
NetworkPolicy, switched on in global, and a PodDisruptionBudget (with several replicas, or
switched on in global). Each renders nothing when off.
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

{{/*
A PodDisruptionBudget: for a service with more than one replica (so that a node drain takes its
pods down one at a time and it keeps serving), or for every service with
global.podDisruptionBudget.enabled; never when the service's podDisruptionBudget.enabled is
false. It allows the service's minAvailable when set, else its maxUnavailable, else
global.podDisruptionBudget.maxUnavailable (1).
*/}}
{{- define "common.podDisruptionBudget" -}}
{{- $global := dig "podDisruptionBudget" dict (include "common.global" . | fromYaml) -}}
{{- $own := .Values.podDisruptionBudget | default dict -}}
{{- $wanted := or (gt (int .Values.replicas) 1) (dig "enabled" false $global) -}}
{{- if and $wanted (dig "enabled" true $own) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "common.metadata" . | nindent 2 }}
spec:
  {{- if not (kindIs "invalid" $own.minAvailable) }}
  minAvailable: {{ $own.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $own.maxUnavailable | default $global.maxUnavailable | default 1 }}
  {{- end }}
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
