{{/*
A service's Deployment. Called from the service chart with the parts only it knows:
include "common.deployment" (dict
  "ctx" $                      the chart's root context
  "probes" "…"                 readinessProbe/livenessProbe YAML (common.grpcProbes or common.httpProbes)
  "env" "…"                    the service's own env entries (YAML list), after the shared ones
  "args" (list "run")          container arguments (optional)
  "volumes" (list …)           extra volumes (optional)
  "volumeMounts" (list …)      extra mounts (optional)
  "podAnnotations" (dict)      extra pod annotations, e.g. a checksum (optional)
  "serviceAccountName" "…"     the pod's ServiceAccount (optional; none: no API token is mounted)
  "strategy" "Recreate")       the update strategy type (optional; default RollingUpdate)
Every pod gets an emptyDir at /tmp, a 5 s preStop pause (a rolling upgrade loses no request), the
service's terminationGracePeriodSeconds, the non-root read-only-root security contexts, resource
requests and the shared settings of common.env. With more than one replica, a rolling update
starts each new pod before it stops an old one (maxUnavailable 0, maxSurge 1; with one replica
Kubernetes' default 25 % rounds to the same), and the pods are spread over the nodes
(common.topologySpread).
*/}}
{{- define "common.deployment" -}}
{{- $ctx := .ctx -}}
{{- $values := $ctx.Values -}}
{{- $ports := include "common.ports" $ctx | fromYaml -}}
{{- $global := include "common.global" $ctx | fromYaml -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "common.metadata" $ctx | nindent 2 }}
spec:
  replicas: {{ $values.replicas }}
  revisionHistoryLimit: 5
  {{- if .strategy }}
  strategy:
    type: {{ .strategy }}
  {{- else if gt (int $values.replicas) 1 }}
  # Never fewer ready pods than replicas: each new pod is ready before an old one stops.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "common.labels" $ctx | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $annotations := merge (dict) (.podAnnotations | default dict) ($values.podAnnotations | default dict) }}
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if .serviceAccountName }}
      serviceAccountName: {{ .serviceAccountName }}
      automountServiceAccountToken: true
      {{- else }}
      automountServiceAccountToken: false
      {{- end }}
      enableServiceLinks: false
      # The 5 s preStop pause, then up to 10 s for in-flight requests on each server (the
      # services' drain grace) before the kubelet's SIGKILL.
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds | default 30 }}
      {{- with $global.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- include "common.podSecurityContext" $ctx | nindent 8 }}
      containers:
        - name: {{ include "common.name" $ctx }}
          image: {{ include "common.image" (list $ctx $values.image) | quote }}
          {{- with $values.image.pullPolicy | default (dig "image" "pullPolicy" "" $global) }}
          imagePullPolicy: {{ . }}
          {{- end }}
          {{- with .args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            {{- range $name, $port := $ports }}
            - name: {{ $name }}
              containerPort: {{ $port }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "common.env" $ctx | trim | nindent 12 }}
            {{- with .env }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- .probes | nindent 10 }}
          lifecycle:
            # Keep serving for 5 s after the pod is marked for deletion, while kube-proxy and the
            # other services' connections move to its replacement, so that a rolling upgrade loses
            # no request; then SIGTERM, and the service finishes what is in flight.
            preStop:
              sleep:
                seconds: 5
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" $ctx | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if dig "tls" "enabled" false $global }}
            - name: tls
              mountPath: {{ include "common.tlsDir" $ctx }}
              readOnly: true
            {{- end }}
            {{- with .volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- if dig "tls" "enabled" false $global }}
        # Mounted whole (no subPath), so that a renewed certificate reaches the files.
        - name: tls
          secret:
            secretName: {{ include "common.tlsSecret" $ctx }}
        {{- end }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "common.topologySpread" $ctx | trim }}
      topologySpreadConstraints:
        {{- . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/*
How a service's pods are spread: its own topologySpreadConstraints when it sets them; else, with
more than one replica and global.topologySpread.enabled (the default), one constraint on
global.topologySpread.topologyKey (kubernetes.io/hostname: one pod per node while there are
nodes enough). whenUnsatisfiable ScheduleAnyway makes it a preference, so that a cluster of one
node still runs every replica. matchLabelKeys pod-template-hash counts each revision's pods
apart, so that a rolling update's new pods spread among themselves rather than around the old.
*/}}
{{- define "common.topologySpread" -}}
{{- $values := .Values -}}
{{- $spread := dig "topologySpread" dict (include "common.global" . | fromYaml) -}}
{{- if $values.topologySpreadConstraints -}}
{{- toYaml $values.topologySpreadConstraints -}}
{{- else if and (gt (int $values.replicas) 1) (dig "enabled" true $spread) -}}
- maxSkew: {{ $spread.maxSkew | default 1 }}
  topologyKey: {{ $spread.topologyKey | default "kubernetes.io/hostname" }}
  whenUnsatisfiable: {{ $spread.whenUnsatisfiable | default "ScheduleAnyway" }}
  labelSelector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end -}}
{{- end -}}
