{{/*
Probes on the gRPC health service (grpc.health.v1): readiness asks for the service's own name,
which reports SERVING only once the service is ready (e.g. the selector holds the whole
catalogue); liveness asks for "", which stays SERVING while the process runs.
include "common.grpcProbes" (list $ "execenv.selector.v1.Selector")
*/}}
{{- define "common.grpcProbes" -}}
{{- $ctx := index . 0 -}}
{{- $ports := include "common.ports" $ctx | fromYaml -}}
{{- if dig "tls" "enabled" false (include "common.global" $ctx | fromYaml) -}}
{{- /* The kubelet's gRPC probe speaks no TLS: the admin port's /readyz says the same. */ -}}
{{- include "common.httpProbes" $ctx -}}
{{- else -}}
readinessProbe:
  grpc:
    port: {{ $ports.grpc }}
    service: {{ index . 1 }}
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  grpc:
    port: {{ $ports.grpc }}
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}
{{- end -}}

{{/* Probes on the admin server's /readyz and /healthz, for the HTTP gateway. */}}
{{- define "common.httpProbes" -}}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}
