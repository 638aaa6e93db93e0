{{/* Names and labels. */}}
{{- define "signals.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "signals.fullname" -}}
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

{{- define "signals.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Call with (dict "ctx" $ "component" "worker"). */}}
{{- define "signals.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signals.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "signals.labels" -}}
helm.sh/chart: {{ include "signals.chart" .ctx }}
{{ include "signals.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: investment-signals
{{- end -}}

{{- define "signals.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "signals.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "signals.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Settings that must never sit in a ConfigMap: pipelines/core/settings.py SECRET_NAMES. */}}
{{- define "signals.secretNames" -}}
{{- list "CELERY_BROKER_URL" "CELERY_RESULT_BACKEND" "DATABASE_URL" "FLOWER_BASIC_AUTH" "REDBEAT_REDIS_URL" "SENTRY_DSN" "SLACK_WEBHOOK_URL" "SMTP_PASSWORD" "TWILIO_AUTH_TOKEN" "USPTO_API_KEY" | toJson -}}
{{- end -}}

{{/* Refuses contradictory or incomplete values; included by the ConfigMap so every render checks. */}}
{{- define "signals.validate" -}}
{{- $v := .Values -}}
{{- $secretNames := include "signals.secretNames" . | fromJsonArray -}}
{{- range $key, $_ := $v.config -}}
{{- if has $key $secretNames -}}
{{- fail (printf "config.%s is a secret setting: put it in secrets.values or secrets.existingSecret, never in the ConfigMap" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $v.redis.enabled $v.externalRedis.url -}}
{{- fail "redis.enabled and externalRedis.url are both set: choose the in-chart Redis or an external one" -}}
{{- end -}}
{{- if not (or $v.redis.enabled $v.externalRedis.url $v.secrets.existingSecret) -}}
{{- fail "no Redis: set redis.enabled, externalRedis.url, or the Redis URLs in secrets.existingSecret" -}}
{{- end -}}
{{- if and $v.postgresql.enabled $v.externalDatabase.url -}}
{{- fail "postgresql.enabled and externalDatabase.url are both set: choose the in-chart PostgreSQL or an external one" -}}
{{- end -}}
{{- if not (or $v.postgresql.enabled $v.externalDatabase.url $v.secrets.existingSecret) -}}
{{- fail "no database: set postgresql.enabled, externalDatabase.url, or DATABASE_URL in secrets.existingSecret" -}}
{{- end -}}
{{- end -}}

{{/* A password given in values, else the one stored by an earlier release, else a new random one;
     memoised in .Values so every template of one render sees the same value.
     Call with (dict "ctx" $ "path" "postgresql.auth.password" "secret" NAME "key" KEY "make" "..."). */}}
{{- define "signals.keptSecret" -}}
{{- $memo := .ctx.Values.__generated | default dict -}}
{{- if not (hasKey $memo .path) -}}
{{- $value := "" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- $value = index $existing.data .key | b64dec -}}
{{- else -}}
{{- $value = .make -}}
{{- end -}}
{{- $_ := set $memo .path $value -}}
{{- $_ := set .ctx.Values "__generated" $memo -}}
{{- end -}}
{{- index $memo .path -}}
{{- end -}}

{{- define "signals.postgresPassword" -}}
{{- if .Values.postgresql.auth.password -}}
{{- .Values.postgresql.auth.password -}}
{{- else -}}
{{- include "signals.keptSecret" (dict "ctx" . "path" "postgresql" "secret" (printf "%s-postgresql" (include "signals.fullname" .)) "key" "password" "make" (randAlphaNum 32)) -}}
{{- end -}}
{{- end -}}

{{- define "signals.flowerAuth" -}}
{{- if .Values.flower.basicAuth -}}
{{- .Values.flower.basicAuth -}}
{{- else -}}
{{- include "signals.keptSecret" (dict "ctx" . "path" "flower" "secret" (include "signals.fullname" .) "key" "FLOWER_BASIC_AUTH" "make" (printf "admin:%s" (randAlphaNum 24))) -}}
{{- end -}}
{{- end -}}

{{/* The chart Secret's data, as a JSON object of setting name -> value. */}}
{{- define "signals.secretData" -}}
{{- $v := .Values -}}
{{- $full := include "signals.fullname" . -}}
{{- $data := dict -}}
{{- $redis := "" -}}
{{- if $v.redis.enabled -}}
{{- $redis = printf "redis://%s-redis:6379" $full -}}
{{- else if $v.externalRedis.url -}}
{{- $redis = trimSuffix "/" $v.externalRedis.url -}}
{{- end -}}
{{- if $redis -}}
{{- $_ := set $data "CELERY_BROKER_URL" (printf "%s/0" $redis) -}}
{{- $_ := set $data "CELERY_RESULT_BACKEND" (printf "%s/1" $redis) -}}
{{- $_ := set $data "REDBEAT_REDIS_URL" (printf "%s/2" $redis) -}}
{{- end -}}
{{- if $v.postgresql.enabled -}}
{{- $auth := $v.postgresql.auth -}}
{{- $_ := set $data "DATABASE_URL" (printf "postgresql://%s:%s@%s-postgresql:5432/%s" $auth.username (include "signals.postgresPassword" . | urlquery) $full $auth.database) -}}
{{- else if $v.externalDatabase.url -}}
{{- $_ := set $data "DATABASE_URL" $v.externalDatabase.url -}}
{{- end -}}
{{- if $v.flower.enabled -}}
{{- $_ := set $data "FLOWER_BASIC_AUTH" (include "signals.flowerAuth" .) -}}
{{- end -}}
{{- range $key, $value := $v.secrets.values -}}
{{- $_ := set $data $key (toString $value) -}}
{{- end -}}
{{- toJson $data -}}
{{- end -}}

{{/* Deep merge where every key present in .over wins, false and 0 included (sprig's merge
     functions skip those). Returns JSON. */}}
{{- define "signals.deepMerge" -}}
{{- $out := deepCopy .base -}}
{{- range $key, $value := .over -}}
{{- if and (kindIs "map" $value) (kindIs "map" (index $out $key)) -}}
{{- $_ := set $out $key (include "signals.deepMerge" (dict "base" (index $out $key) "over" $value) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The worker pools with defaults and overrides applied: {"pools": [...]}. */}}
{{- define "signals.pools" -}}
{{- $w := .Values.workers -}}
{{- $defaults := dict "replicas" $w.replicas "concurrency" $w.concurrency "terminationGracePeriodSeconds" $w.terminationGracePeriodSeconds "resources" $w.resources "keda" $w.keda "hpa" $w.hpa "podDisruptionBudget" $w.podDisruptionBudget "nodeSelector" (default .Values.nodeSelector $w.nodeSelector) "tolerations" (default .Values.tolerations $w.tolerations) "affinity" (default .Values.affinity $w.affinity) -}}
{{- $names := list -}}
{{- $pools := list -}}
{{- range $pool := $w.pools -}}
{{- if has $pool.name $names -}}
{{- fail (printf "workers.pools: pool %q is listed twice" $pool.name) -}}
{{- end -}}
{{- $names = append $names $pool.name -}}
{{- $base := include "signals.deepMerge" (dict "base" $defaults "over" $pool) | fromJson -}}
{{- $merged := include "signals.deepMerge" (dict "base" $base "over" (index $w.poolOverrides $pool.name | default dict)) | fromJson -}}
{{- if and $merged.keda.enabled $merged.hpa.enabled -}}
{{- fail (printf "worker pool %s: keda and hpa are both enabled; a pool scales with one of them, never both" $pool.name) -}}
{{- end -}}
{{- if and $merged.keda.enabled (not $merged.keda.redis.address) (not $.Values.redis.enabled) -}}
{{- fail (printf "worker pool %s: workers.keda.redis.address (host:port) is required with an external Redis" $pool.name) -}}
{{- end -}}
{{- $pools = append $pools $merged -}}
{{- end -}}
{{- range $name, $_ := $w.poolOverrides -}}
{{- if not (has $name $names) -}}
{{- fail (printf "workers.poolOverrides.%s names no pool of workers.pools (%s)" $name (join ", " $names)) -}}
{{- end -}}
{{- end -}}
{{- dict "pools" $pools | toJson -}}
{{- end -}}

{{/* Pod-level fields shared by every application pod. */}}
{{- define "signals.podCommon" -}}
serviceAccountName: {{ include "signals.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Container fields shared by every application container. */}}
{{- define "signals.containerCommon" -}}
image: {{ include "signals.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "signals.fullname" . }}
  - secretRef:
      name: {{ include "signals.fullname" . }}
  {{- with .Values.secrets.existingSecret }}
  - secretRef:
      name: {{ . }}
  {{- end }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Pod annotations that roll the pods when settings change. */}}
{{- define "signals.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Init container: waits until the database is at every migration head of this image. */}}
{{- define "signals.waitForMigrations" -}}
- name: wait-for-migrations
  {{- include "signals.containerCommon" . | nindent 2 }}
  args: ["/wait-for-migrations"]
  env:
    - name: MIGRATION_WAIT_SECONDS
      value: {{ .Values.migrations.waitSeconds | quote }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
{{- end -}}
