{{/* The namespace content Jobs run in. */}}
{{- define "launcher.contentNamespace" -}}
{{- .Values.kubernetes.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The launcher's ServiceAccount: the one created, or the one named. */}}
{{- define "launcher.serviceAccount" -}}
{{- .Values.serviceAccount.name | default (include "common.fullname" .) -}}
{{- end -}}

{{/* The ConfigMap that owns the release's content Jobs (kubernetes.deleteJobsOnUninstall). */}}
{{- define "launcher.jobsOwner" -}}
{{- printf "%s-jobs" (include "common.fullname" .) -}}
{{- end -}}

{{/*
The launcher's settings that are not in its configuration file; with global.database.type
postgres, the launch history's database (the registry's PostgreSQL URL, from the same Secret).
*/}}
{{- define "launcher.env" -}}
- name: EXECENV_CONFIG
  value: /etc/execenv/launcher/config.yaml
- name: EXECENV_LAUNCHER__BACKEND
  value: kubernetes
- name: EXECENV_SELECTOR__URL
  value: {{ include "common.grpcUrl" (list . "selector" .Values.selectorUrl) | quote }}
{{- if include "common.postgres" . }}
{{- /* The launch history, shared by every launcher pod, in the registry's PostgreSQL database. */}}
- name: EXECENV_HISTORY__DATABASE_URL
  valueFrom:
    {{- include "common.postgresUrlFrom" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
A map of resources from the values' names (cpuRequest, memoryLimit, gpu, …) to the launcher's
(cpu_request, memory_limit, gpu, …), every quantity a string: include "launcher.resources" MAP.
*/}}
{{- define "launcher.resources" -}}
{{- $out := dict -}}
{{- range $key, $value := . }}{{ $_ := set $out (snakecase $key) (toString $value) }}{{ end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
The ConfigMap <release>-launcher: config.yaml (the `kubernetes` section of the launcher's
configuration, in its own key names) and, when set, job-template.yaml (the job base template).
*/}}
{{- define "launcher.configMap" -}}
{{- $k := .Values.kubernetes -}}
{{- $storage := dig "storage" dict (include "common.global" . | fromYaml) -}}
{{- $settings := dict
  "namespace" (include "launcher.contentNamespace" .)
  "runtime_image" (include "common.image" (list . $k.runtimeImage))
  "data_pvc" (include "common.contentClaim" (list . "data" $k.dataPvc))
  "package_cache_pvc" (include "common.contentClaim" (list . "packageCache" $k.packageCachePvc))
  "ttl_seconds_after_finished" $k.ttlSecondsAfterFinished
  "interactive_port" $k.interactivePort
  "build_active_deadline_seconds" $k.buildActiveDeadlineSeconds
  "automount_service_account_token" $k.automountServiceAccountToken
  "image_pull_secrets" ($k.imagePullSecrets | default list)
  "run_as_user" $k.runAsUser
  "run_as_group" $k.runAsGroup
  "fs_group" $k.fsGroup
  "gpu_resource" $k.gpuResource
  "service_accounts" ($k.serviceAccounts | default list)
  "run_as_non_root" $k.runAsNonRoot
  "read_only_root_filesystem" $k.readOnlyRootFilesystem -}}
{{- with $k.serviceAccountLabel }}{{ $_ := set $settings "service_account_label" . }}{{ end -}}
{{- with $k.buildResources }}{{ $_ := set $settings "build_resources" (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- with $k.runResources }}{{ $_ := set $settings "run_resources" (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- with $k.initResources }}{{ $_ := set $settings "init_resources" (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- $config := dict "kubernetes" $settings -}}
{{- $caps := .Values.launchLimits | default dict -}}
{{- $limits := dict -}}
{{- with $caps.publisher }}{{ $_ := set $limits "publisher" (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- with $caps.administrator }}{{ $_ := set $limits "administrator" (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- with $caps.groups }}
{{- $groups := list -}}
{{- range . }}{{ $groups = append $groups (include "launcher.resources" . | fromYaml) }}{{ end -}}
{{- $_ := set $limits "groups" $groups -}}
{{- end -}}
{{- if $limits }}{{ $_ := set $config "limits" $limits }}{{ end -}}
{{- with $k.runnerPath }}{{ $_ := set $settings "runner_path" . }}{{ end -}}
{{- with $k.defaultServiceAccount }}{{ $_ := set $settings "default_service_account" . }}{{ end -}}
{{- with dig "data" "subPathPrefix" "" $storage }}{{ $_ := set $settings "data_sub_path_prefix" . }}{{ end -}}
{{- with dig "packageCache" "subPathPrefix" "" $storage }}{{ $_ := set $settings "package_cache_sub_path_prefix" . }}{{ end -}}
{{- if .Values.rbac.create }}{{ $_ := set $settings "role" (include "common.fullname" .) }}{{ end -}}
{{- if $k.deleteJobsOnUninstall }}{{ $_ := set $settings "owner_config_map" (include "launcher.jobsOwner" .) }}{{ end -}}
{{- if $k.jobTemplate }}{{ $_ := set $settings "job_template" "/etc/execenv/launcher/job-template.yaml" }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "common.metadata" . | nindent 2 }}
data:
  config.yaml: |
    {{- toYaml $config | nindent 4 }}
  {{- with $k.jobTemplate }}
  job-template.yaml: |
    {{- toYaml (merge (dict "apiVersion" "batch/v1" "kind" "Job") .) | nindent 4 }}
  {{- end }}
{{- end -}}
