{{/* Chart name, possibly overridden. */}}
{{- define "fbtftp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name: release-chart, or fullnameOverride. */}}
{{- define "fbtftp.fullname" -}}
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

{{- define "fbtftp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fbtftp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fbtftp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "fbtftp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fbtftp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "true" when the master runs with --single-port. */}}
{{- define "fbtftp.singlePort" -}}
{{- $v := toString .Values.tftp.singlePort -}}
{{- if eq $v "auto" -}}
{{- eq .Values.mode "deployment" -}}
{{- else if or (eq $v "true") (eq $v "false") -}}
{{- $v -}}
{{- else -}}
{{- fail (printf "tftp.singlePort must be auto, true or false, not %q" $v) -}}
{{- end -}}
{{- end -}}

{{/* The fbtftp-master command line (the image's ENTRYPOINT is the master). */}}
{{- define "fbtftp.args" -}}
{{- $args := list "-L" "-a" (printf "%s:%v" .Values.tftp.address .Values.tftp.port) "-s" .Values.root.path -}}
{{- $args = concat $args (list "-u" (toString .Values.tftp.user)) -}}
{{- if eq (include "fbtftp.singlePort" .) "true" -}}
{{- $args = append $args "--single-port" -}}
{{- end -}}
{{- if .Values.tftp.readOnly -}}
{{- $args = append $args "--read-only" -}}
{{- end -}}
{{- $args = concat $args (list "--prefork" (toString .Values.tftp.prefork) "--max-workers" (toString .Values.tftp.maxWorkers)) -}}
{{- $args = concat $args (list "--drain-timeout" (printf "%vs" .Values.tftp.drainTimeoutSeconds)) -}}
{{- if .Values.tftp.verbosity -}}
{{- $args = concat $args (list "--verbosity" (toString .Values.tftp.verbosity)) -}}
{{- end -}}
{{- $args = concat $args (list "--metrics-addr" (printf ":%v" .Values.metrics.port) "--log-format" "json") -}}
{{- if .Values.tftp.mapFile -}}
{{- $args = concat $args (list "-m" "/etc/fbtftp/map") -}}
{{- end -}}
{{- with .Values.http.origin -}}
{{- $args = concat $args (list "--http-origin" .) -}}
{{- end -}}
{{- range .Values.http.allowNet -}}
{{- $args = concat $args (list "--http-allow-net" .) -}}
{{- end -}}
{{- if .Values.http.cache.enabled -}}
{{- $args = concat $args (list "--http-cache" .Values.http.cache.path "--http-cache-size" (toString .Values.http.cache.size)) -}}
{{- with .Values.http.cache.maxAge -}}
{{- $args = concat $args (list "--http-cache-max-age" .) -}}
{{- end -}}
{{- end -}}
{{- $args = concat $args .Values.tftp.extraArgs -}}
{{- toYaml $args -}}
{{- end -}}

{{/* Checks that no value combination can be fixed at run time. */}}
{{- define "fbtftp.validate" -}}
{{- if not (has .Values.mode (list "daemonset" "deployment")) -}}
{{- fail (printf "mode must be daemonset or deployment, not %q" .Values.mode) -}}
{{- end -}}
{{- if and .Values.http.cache.enabled (or (eq (clean .Values.http.cache.path) (clean .Values.root.path)) (hasPrefix (printf "%s/" (clean .Values.root.path)) (clean .Values.http.cache.path))) -}}
{{- fail "http.cache.path must lie outside root.path: TFTP clients must never read cache files" -}}
{{- end -}}
{{- if and (eq .Values.mode "deployment") (not (has .Values.service.type (list "LoadBalancer" "NodePort"))) -}}
{{- fail (printf "service.type must be LoadBalancer or NodePort, not %q" .Values.service.type) -}}
{{- end -}}
{{- end -}}
