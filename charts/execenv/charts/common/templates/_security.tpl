{{/*
Security contexts: every service runs as a non-root user with a read-only root filesystem, no
privilege escalation, no capabilities and the runtime's default seccomp profile; writable places
are emptyDir (/tmp) or volumes. global.podSecurityContext and global.containerSecurityContext
are merged over these defaults.
*/}}
{{- define "common.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532 "fsGroup" 65532 "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (dig "podSecurityContext" dict (include "common.global" . | fromYaml))) -}}
{{- end -}}

{{- define "common.containerSecurityContext" -}}
{{- $defaults := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) -}}
{{- toYaml (mergeOverwrite $defaults (dig "containerSecurityContext" dict (include "common.global" . | fromYaml))) -}}
{{- end -}}
