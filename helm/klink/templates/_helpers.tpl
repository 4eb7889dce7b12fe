{{- define "klink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "klink.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "klink.selectorLabels" -}}
app.kubernetes.io/name: {{ include "klink.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "klink.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "klink.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "klink.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "klink.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the chart creates for secrets given inline in the values. */}}
{{- define "klink.inlineSecretName" -}}
{{- printf "%s-secrets" (include "klink.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
klink.plan: where every secret file klink reads comes from, as YAML:
  files:   "<owner>": {secret: NAME, key: KEY}   (owner e.g. "0.source.password")
  inline:  {KEY: VALUE}   data of the chart-created Secret
  secrets: [NAME...]      every Secret to mount
One computation shared by the ConfigMap (paths), the Deployment (volumes)
and the Secret (data), so the three cannot disagree.
*/}}
{{- define "klink.plan" -}}
{{- $inlineName := include "klink.inlineSecretName" . -}}
{{- $files := dict -}}
{{- $inline := dict -}}
{{- range $i, $link := .Values.links -}}
{{- range $side := list "source" "destination" -}}
{{- $s := index $link $side | default dict -}}
{{- $p := printf "%d.%s" $i $side -}}
{{- with $s.sasl -}}
{{- if .existingSecret -}}
{{- $_ := set $files (printf "%s.password" $p) (dict "secret" .existingSecret "key" (.passwordKey | default "password")) -}}
{{- else if .password -}}
{{- $k := printf "link%d-%s-password" $i $side -}}
{{- $_ := set $inline $k .password -}}
{{- $_ := set $files (printf "%s.password" $p) (dict "secret" $inlineName "key" $k) -}}
{{- else -}}
{{- fail (printf "links[%d].%s.sasl: set existingSecret (a Secret holding the password) or password" $i $side) -}}
{{- end -}}
{{- end -}}
{{- with $s.tls -}}
{{- $tls := . -}}
{{- range $f := list (list "ca" "caKey" "ca.crt") (list "cert" "certKey" "tls.crt") (list "key" "keyKey" "tls.key") -}}
{{- $what := index $f 0 -}}
{{- if $tls.existingSecret -}}
{{- /* Without a client certificate only the CA is mounted; caKey "" = system trust store. */ -}}
{{- $defaults := dict "caKey" "ca.crt" "certKey" "" "keyKey" "" -}}
{{- $key := ternary (index $tls (index $f 1)) (index $defaults (index $f 1)) (hasKey $tls (index $f 1)) -}}
{{- if $key -}}
{{- $_ := set $files (printf "%s.%s" $p $what) (dict "secret" $tls.existingSecret "key" $key) -}}
{{- end -}}
{{- else if index $tls $what -}}
{{- $k := printf "link%d-%s-%s" $i $side (index $f 2) -}}
{{- $_ := set $inline $k (index $tls $what) -}}
{{- $_ := set $files (printf "%s.%s" $p $what) (dict "secret" $inlineName "key" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.admin.tokens -}}
{{- if .existingSecret -}}
{{- $_ := set $files "admin.tokens" (dict "secret" .existingSecret "key" (.key | default "tokens")) -}}
{{- else if .tokens -}}
{{- $_ := set $inline "admin-tokens" (printf "%s\n" (join "\n" .tokens)) -}}
{{- $_ := set $files "admin.tokens" (dict "secret" $inlineName "key" "admin-tokens") -}}
{{- end -}}
{{- end -}}
{{- with .Values.admin.tls -}}
{{- if .enabled -}}
{{- if not .existingSecret -}}
{{- fail "admin.tls.enabled needs admin.tls.existingSecret (a Secret holding the PEM certificate and key)" -}}
{{- end -}}
{{- $_ := set $files "admin.cert" (dict "secret" .existingSecret "key" (.certKey | default "tls.crt")) -}}
{{- $_ := set $files "admin.key" (dict "secret" .existingSecret "key" (.keyKey | default "tls.key")) -}}
{{- if .clientCaKey -}}
{{- $_ := set $files "admin.clientCa" (dict "secret" .existingSecret "key" .clientCaKey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $secrets := list -}}
{{- range $owner, $f := $files -}}
{{- $secrets = append $secrets $f.secret -}}
{{- end -}}
{{- toYaml (dict "files" $files "inline" $inline "secrets" ($secrets | uniq | sortAlpha)) -}}
{{- end -}}

{{/* The path klink reads a planned file at: (list $root $plan "owner"). */}}
{{- define "klink.filePath" -}}
{{- $root := index . 0 -}}
{{- $f := index (index . 1).files (index . 2) -}}
{{- printf "%s/%s/%s" (trimSuffix "/" $root.Values.secretsMountPath) $f.secret $f.key -}}
{{- end -}}

{{/* A DNS-1123 volume name for a Secret, stable across renders. */}}
{{- define "klink.secretVolume" -}}
{{- printf "secret-%s" (sha256sum . | trunc 12) -}}
{{- end -}}

{{/* The admin endpoint's scheme as the probes and the ServiceMonitor see it. */}}
{{- define "klink.adminScheme" -}}
{{- if .Values.admin.tls.enabled -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}
