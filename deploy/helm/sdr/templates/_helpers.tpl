{{/* Names and labels. */}}
{{- define "sdr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sdr.fullname" -}}
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

{{- define "sdr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sdr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sdr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sdr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: runtime
{{- end -}}

{{- define "sdr.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "sdr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "sdr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sdr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sdr.agentSecretName" -}}
{{- default (printf "%s-agent" (include "sdr.fullname" .)) .Values.agent.existingSecret -}}
{{- end -}}

{{- define "sdr.redisName" -}}
{{- printf "%s-redis" (include "sdr.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A Kubernetes memory quantity (512Mi, 1Gi, 500M, 1G, or bytes) in MiB, rounded down. */}}
{{- define "sdr.quantityMiB" -}}
{{- $q := toString . -}}
{{- $n := regexFind "^[0-9.]+" $q | float64 -}}
{{- $unit := regexReplaceAll "^[0-9.]+" $q "" -}}
{{- $factor := dict "" 0.00000095367431640625 "Ki" 0.0009765625 "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "k" 0.0009536743 "K" 0.0009536743 "M" 0.95367431640625 "G" 976.5625 "T" 1000000.0 -}}
{{- if not (hasKey $factor $unit) -}}
{{- fail (printf "resources.limits.memory: cannot read %q; use Mi or Gi, e.g. 512Mi" $q) -}}
{{- end -}}
{{- mulf $n (get $factor $unit) | floor | int -}}
{{- end -}}

{{/* The daemon's heap cap in MiB: heap.maxOldSpaceMiB, or a share of the memory limit. */}}
{{- define "sdr.heapMiB" -}}
{{- if .Values.heap.maxOldSpaceMiB -}}
{{- .Values.heap.maxOldSpaceMiB | int -}}
{{- else -}}
{{- $limit := dig "limits" "memory" "" .Values.resources -}}
{{- if not $limit -}}
{{- fail "resources.limits.memory is required to derive the heap cap (or set heap.maxOldSpaceMiB)" -}}
{{- end -}}
{{- $mib := include "sdr.quantityMiB" $limit | int -}}
{{- div (mul $mib (int .Values.heap.percentOfMemoryLimit)) 100 -}}
{{- end -}}
{{- end -}}

{{/* Seconds Kubernetes waits after SIGTERM: drain + the runtime's 5 s backstop + margin (+ preStop). */}}
{{- define "sdr.gracePeriodSeconds" -}}
{{- $drain := divf (float64 .Values.drain.timeoutMs) 1000.0 | ceil | int -}}
{{- add $drain 5 (int .Values.drain.preStopSleepSeconds) (int .Values.drain.graceMarginSeconds) -}}
{{- end -}}

{{/* Which Redis: fails on contradictory choices, so a bad release never renders. */}}
{{- define "sdr.validateRedis" -}}
{{- $ext := .Values.redis.external -}}
{{- $external := or $ext.url $ext.urlSecret.name $ext.sentinels $ext.clusterNodes -}}
{{- if and .Values.redis.bundled.enabled $external -}}
{{- fail "redis: an external Redis is set (redis.external.*); also set redis.bundled.enabled=false" -}}
{{- end -}}
{{- if and (not .Values.redis.bundled.enabled) (not $external) -}}
{{- fail "redis: set redis.external.url (or urlSecret, sentinels, clusterNodes), or redis.bundled.enabled=true" -}}
{{- end -}}
{{- if and $ext.url $ext.urlSecret.name -}}
{{- fail "redis.external: give url or urlSecret, not both" -}}
{{- end -}}
{{- if and $ext.sentinels $ext.clusterNodes -}}
{{- fail "redis.external: sentinels and clusterNodes cannot be combined; choose one" -}}
{{- end -}}
{{- end -}}
