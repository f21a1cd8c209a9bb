{{/*
Names. Every object of a service is named <release>-<service> (at most 63 characters), so the
services of one release find each other by name without reading each other's values.
*/}}

{{/*
This chart's service name: the chart's name, in kebab-case so that a chart the umbrella chart
includes under a camelCase alias (imageExaminer, for the chart image-examiner) names its objects
like the others (image-examiner).
*/}}
{{- define "common.name" -}}
{{- .Chart.Name | kebabcase -}}
{{- end -}}

{{/* This chart's object name: <release>-<service name>. */}}
{{- define "common.fullname" -}}
{{- include "common.fullnameOf" (list . (include "common.name" .)) -}}
{{- end -}}

{{/* The object name of a service of the same release: include "common.fullnameOf" (list $ "selector"). */}}
{{- define "common.fullnameOf" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" $ctx.Release.Name (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The ports of every service (DESIGN.md "Default ports"). Fixed, so that a service's URL can be
derived by the others; `grpc`/`http` is the API, `metrics` the admin server (/metrics, /healthz, /readyz).
*/}}
{{- define "common.portTable" -}}
environment-registry: {grpc: 50051, metrics: 9451}
config-sync: {grpc: 50052, metrics: 9452}
selector: {grpc: 50053, metrics: 9453}
launcher: {grpc: 50054, metrics: 9454}
gateway: {http: 3939, metrics: 9455}
image-examiner: {grpc: 50055, metrics: 9456}
{{- end -}}

{{/* The ports of a service as a dict: include "common.portsOf" (list $ "selector") | fromYaml. */}}
{{- define "common.portsOf" -}}
{{- $table := include "common.portTable" (index . 0) | fromYaml -}}
{{- toYaml (index $table (index . 1)) -}}
{{- end -}}

{{/* The ports of this chart's service, as YAML (name: port). */}}
{{- define "common.ports" -}}
{{- include "common.portsOf" (list . (include "common.name" .)) -}}
{{- end -}}

{{/*
The gRPC URL of a service of the same release, unless `override` is set:
include "common.grpcUrl" (list $ "selector" .Values.selectorUrl).
*/}}
{{- define "common.grpcUrl" -}}
{{- $ctx := index . 0 -}}
{{- $service := index . 1 -}}
{{- $override := index . 2 -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- $ports := include "common.portsOf" (list $ctx $service) | fromYaml -}}
{{- $scheme := ternary "https" "http" (dig "tls" "enabled" false (include "common.global" $ctx | fromYaml)) -}}
{{- printf "%s://%s:%v" $scheme (include "common.fullnameOf" (list $ctx $service)) $ports.grpc -}}
{{- end -}}
{{- end -}}

{{/*
The image examiner's gRPC URL for the services that follow it (the gateway, the selector):
`override` when set, else this release's image-examiner when the umbrella chart deploys it (its
chart exports global.imageExaminer.enabled), else empty (no examiner: drift is not reported).
include "common.examinerUrl" (list $ .Values.examinerUrl)
*/}}
{{- define "common.examinerUrl" -}}
{{- $ctx := index . 0 -}}
{{- $override := index . 1 -}}
{{- if $override -}}
{{- $override -}}
{{- else if dig "imageExaminer" "enabled" false (include "common.global" $ctx | fromYaml) -}}
{{- include "common.grpcUrl" (list $ctx "image-examiner" "") -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding environments.yaml, the executionEnvironments list config-sync keeps in sync. */}}
{{- define "common.environmentsConfigMap" -}}
{{- printf "%s-execution-environments" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ConfigMap holding the legacy runtime.yaml (launcher.customRuntimeYaml). */}}
{{- define "common.legacyRuntimeConfigMap" -}}
{{- printf "%s-legacy-runtime" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The ConfigMap telling config-sync which file to read: key `file` (the declarative list) or
`legacy_file` (the legacy runtime.yaml), as the umbrella chart decides from its values.
*/}}
{{- define "common.syncSourcesConfigMap" -}}
{{- printf "%s-config-sync-sources" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where a service mounts its TLS Secret (global.tls). */}}
{{- define "common.tlsDir" -}}/etc/execenv/tls{{- end -}}

{{/* The TLS Secret of this chart's service: <release>-<service>-tls (cert-manager's secretName). */}}
{{- define "common.tlsSecret" -}}
{{- printf "%s-tls" (include "common.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where config-sync finds the two ConfigMaps above. */}}
{{- define "common.environmentsDir" -}}/etc/execenv/environments{{- end -}}
{{- define "common.legacyRuntimeDir" -}}/etc/execenv/legacy{{- end -}}

{{/* The Secret holding the service token: the existing one, or the one the umbrella chart creates. */}}
{{- define "common.serviceTokenSecret" -}}
{{- dig "serviceToken" "existingSecret" "" (include "common.global" . | fromYaml) | default (printf "%s-service-token" .Release.Name | trunc 63 | trimSuffix "-") -}}
{{- end -}}

{{/*
The claim content Jobs mount for a volume of global.storage ("data" or "packageCache"): the one
the launcher's value names (launcher.kubernetes.dataPvc or packageCachePvc, as earlier releases
did), else global.storage.<volume>.claimName.
include "common.contentClaim" (list $ "data" .Values.kubernetes.dataPvc)
*/}}
{{- define "common.contentClaim" -}}
{{- $ctx := index . 0 -}}
{{- $volume := index . 1 -}}
{{- $defaults := dict "data" "execenv-data" "packageCache" "execenv-package-cache" -}}
{{- index . 2 | default (dig "storage" $volume "claimName" "" (include "common.global" $ctx | fromYaml)) | default (index $defaults $volume) -}}
{{- end -}}

{{/* Where the gateway mounts the data volume (global.storage.data). */}}
{{- define "common.gatewayDataPath" -}}/var/lib/execenv/data{{- end -}}

{{/*
The claim the gateway mounts: global.storage.data.gatewayClaim (a claim of the release namespace
on the same storage, when content runs in another namespace), else the data claim itself.
*/}}
{{- define "common.gatewayDataClaim" -}}
{{- $data := dig "storage" "data" dict (include "common.global" . | fromYaml) -}}
{{- $data.gatewayClaim | default $data.claimName | default "execenv-data" -}}
{{- end -}}

{{/*
The folder the gateway writes uploaded bundles under (its EXECENV_BUNDLES__DIR): the data volume's
mount, then global.storage.data.subPathPrefix. It writes <dir>/content/<guid>/<bundle>/bundle,
where content Jobs mount <prefix>/content/<guid>/<bundle> of the same volume.
*/}}
{{- define "common.gatewayBundlesDir" -}}
{{- $prefix := dig "storage" "data" "subPathPrefix" "" (include "common.global" . | fromYaml) | trimSuffix "/" -}}
{{- if $prefix -}}
{{- printf "%s/%s" (include "common.gatewayDataPath" .) $prefix -}}
{{- else -}}
{{- include "common.gatewayDataPath" . -}}
{{- end -}}
{{- end -}}

{{/*
The global values as YAML (use: include "common.global" . | fromYaml). Every global value is
optional here, so that a service chart also renders on its own: an absent value means the
binary's or Kubernetes' default (the umbrella chart's values.yaml holds the real defaults).
*/}}
{{- define "common.global" -}}
{{- toYaml (.Values.global | default dict) -}}
{{- end -}}
