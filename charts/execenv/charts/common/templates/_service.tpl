{{/* A service's ClusterIP Service, one named port per port of common.portTable. */}}
{{- define "common.service" -}}
{{- $ports := include "common.ports" . | fromYaml -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "common.metadata" . | nindent 2 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    {{- range $name, $port := $ports }}
    - name: {{ $name }}
      port: {{ $port }}
      targetPort: {{ $name }}
      protocol: TCP
      appProtocol: {{ ternary "grpc" "http" (eq $name "grpc") }}
    {{- end }}
{{- end -}}
