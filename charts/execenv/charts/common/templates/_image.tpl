{{/*
An image reference: include "common.image" (list $ .Values.image). The registry and the tag fall
back to global.image (the tag at last to the chart's appVersion); an empty registry means none.
*/}}
{{- define "common.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- $global := dig "image" dict (include "common.global" $ctx | fromYaml) -}}
{{- $registry := $image.registry | default $global.registry -}}
{{- $tag := $image.tag | default $global.tag | default $ctx.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry $image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}
{{- end -}}
