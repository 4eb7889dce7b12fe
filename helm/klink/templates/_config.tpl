{{/*
klink.toml rendered from the values. Strings, numbers, booleans and arrays
are written with toJson: a JSON string, number or array of them is also a
valid TOML value (regex backslashes included).
*/}}
{{- define "klink.side" -}}
{{- $root := index . 0 -}}{{- $plan := index . 1 -}}{{- $i := index . 2 -}}{{- $side := index . 3 -}}{{- $s := index . 4 -}}
{{- $p := printf "%d.%s" $i $side }}

[links.{{ $side }}]
bootstrap_servers = {{ toJson $s.bootstrap_servers }}
{{- with $s.client_id }}
client_id = {{ toJson . }}
{{- end }}
{{- if and (eq $side "destination") (hasKey $s "replication_factor") }}
replication_factor = {{ toJson $s.replication_factor }}
{{- end }}
security_protocol = {{ toJson ($s.security_protocol | default "PLAINTEXT") }}
{{- with $s.tls }}

[links.{{ $side }}.tls]
{{- if hasKey . "verify_hostname" }}
verify_hostname = {{ toJson .verify_hostname }}
{{- end }}
{{- range $what := list "ca" "cert" "key" }}
{{- if hasKey $plan.files (printf "%s.%s" $p $what) }}
{{ $what }}_file = {{ include "klink.filePath" (list $root $plan (printf "%s.%s" $p $what)) | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- with $s.sasl }}

[links.{{ $side }}.sasl]
mechanism = {{ toJson .mechanism }}
username = {{ toJson .username }}
password_file = {{ include "klink.filePath" (list $root $plan (printf "%s.password" $p)) | toJson }}
{{- end }}
{{- end -}}

{{- define "klink.table" -}}
{{- $name := index . 0 -}}{{- $t := index . 1 -}}
{{- if $t }}

[{{ $name }}]
{{- range $k, $v := $t }}
{{ $k }} = {{ toJson $v }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "klink.toml" -}}
{{- $plan := include "klink.plan" . | fromYaml -}}
# Rendered by the klink Helm chart {{ .Chart.Version }} from its values; edit
# the values, not this ConfigMap. Secret files are mounted under
# {{ .Values.secretsMountPath }}.

[log]
level = {{ toJson .Values.log.level }}
format = {{ toJson .Values.log.format }}

[admin]
# All interfaces inside the pod: the kubelet's probes and the Service connect
# to the pod IP.
listen = {{ include "klink.adminListen" . | toJson }}
{{- if hasKey $plan.files "admin.tokens" }}
tokens_file = {{ include "klink.filePath" (list . $plan "admin.tokens") | toJson }}
{{- end }}
{{- if hasKey $plan.files "admin.cert" }}

[admin.tls]
cert_file = {{ include "klink.filePath" (list . $plan "admin.cert") | toJson }}
key_file = {{ include "klink.filePath" (list . $plan "admin.key") | toJson }}
{{- if hasKey $plan.files "admin.clientCa" }}
client_ca_file = {{ include "klink.filePath" (list . $plan "admin.clientCa") | toJson }}
{{- end }}
{{- end }}
{{- range $i, $link := .Values.links }}

[[links]]
name = {{ toJson $link.name }}
{{- include "klink.side" (list $ $plan $i "source" $link.source) }}
{{- include "klink.side" (list $ $plan $i "destination" $link.destination) }}

[links.topics]
include = {{ toJson $link.topics.include }}
{{- with $link.topics.exclude }}
exclude = {{ toJson . }}
{{- end }}
{{- include "klink.table" (list "links.mirror" $link.mirror) }}
{{- include "klink.table" (list "links.consumer_offsets" $link.consumer_offsets) }}
{{- with $link.scale_out }}
{{- if .enabled }}

[links.scale_out]
enabled = true
{{- with .group_id }}
group_id = {{ toJson . }}
{{- end }}
{{- with .session_timeout_ms }}
session_timeout_ms = {{ toJson . }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{ end -}}

{{- define "klink.adminListen" -}}
{{- $host := .Values.admin.listenHost | default "0.0.0.0" -}}
{{- if contains ":" $host -}}
{{- printf "[%s]:%d" $host (int .Values.admin.port) -}}
{{- else -}}
{{- printf "%s:%d" $host (int .Values.admin.port) -}}
{{- end -}}
{{- end -}}
