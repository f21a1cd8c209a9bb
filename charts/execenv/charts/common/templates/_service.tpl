{{/*
A service's Service, one named port per port of common.portTable: of service.type (ClusterIP by
default, NodePort or LoadBalancer), with service.nodePort on the API port (grpc, or the gateway's
http) when it is set and the type has node ports, and service.sessionAffinity when set (the gateway:
ClientIP, for the console sessions each pod holds).
*/}}
{{- define "common.service" -}}
{{- $ports := include "common.ports" . | fromYaml -}}
{{- $type := .Values.service.type | default "ClusterIP" -}}
{{- $nodePort := and (ne $type "ClusterIP") .Values.service.nodePort -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "common.metadata" . | nindent 2 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $type }}
  {{- with .Values.service.sessionAffinity }}
  sessionAffinity: {{ . }}
  {{- end }}
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    {{- range $name, $port := $ports }}
    - name: {{ $name }}
      port: {{ $port }}
      targetPort: {{ $name }}
      protocol: TCP
      appProtocol: {{ ternary "grpc" "http" (eq $name "grpc") }}
      {{- if and $nodePort (ne $name "metrics") }}
      nodePort: {{ $nodePort }}
      {{- end }}
    {{- end }}
{{- end -}}
