{{/* Names: <release>-lbhealth unless the release is already called lbhealth... (Helm convention, 63 chars). */}}
{{- define "lbhealth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lbhealth.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "lbhealth.selector" (list . "serve") */}}
{{- define "lbhealth.selector" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ $.Chart.Name }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "lbhealth.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "lbhealth.slackSecret" -}}
{{ .Values.slack.existingSecret | default (printf "%s-slack" (include "lbhealth.fullname" .)) }}
{{- end -}}

{{- define "lbhealth.webhookSecret" -}}
{{ .Values.webhooks.existingSecret | default (printf "%s-webhooks" (include "lbhealth.fullname" .)) }}
{{- end -}}

{{- define "lbhealth.redisSecret" -}}
{{ .Values.redis.bundled.existingSecret | default (printf "%s-redis" (include "lbhealth.fullname" .)) }}
{{- end -}}

{{/* Pod-level securityContext shared by every pod of the chart. */}}
{{- define "lbhealth.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "lbhealth.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Redis connection for lbhealth containers: REDIS_URL, REDIS_PASSWORD, Sentinel settings. */}}
{{- define "lbhealth.redisEnv" -}}
{{- if eq .Values.redis.mode "bundled" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "lbhealth.redisSecret" . }}, key: password}
# $(REDIS_PASSWORD) is expanded by the kubelet (defined just above); the generated password is URL-safe.
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" (include "lbhealth.fullname" .) | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ required "redis.external.url is required with redis.mode=external" .Values.redis.external.url | quote }}
{{- if .Values.redis.external.passwordSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.external.passwordSecret }}, key: {{ .Values.redis.external.passwordKey }}}
{{- end }}
{{- if .Values.redis.external.tls.caSecret }}
- name: LBHEALTH_REDIS_CA_FILE
  value: /etc/lbhealth/redis-ca/ca.crt
{{- end }}
{{- with .Values.redis.external.sentinel }}
{{- if .hosts }}
- name: LBHEALTH_REDIS_SENTINELS
  value: {{ join "," .hosts | quote }}
- name: LBHEALTH_REDIS_SENTINEL_MASTER
  value: {{ .masterName | quote }}
- name: LBHEALTH_REDIS_SENTINEL_TLS
  value: {{ .tls | quote }}
{{- if .passwordSecret }}
- name: LBHEALTH_REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .passwordSecret }}, key: {{ .passwordKey }}}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The private CA of an external Redis's certificates, when one is named (LBHEALTH_REDIS_CA_FILE). */}}
{{- define "lbhealth.redisCaVolume" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.external.tls.caSecret }}
    items:
      - {key: {{ .Values.redis.external.tls.caKey }}, path: ca.crt}
{{- end }}
{{- end -}}

{{- define "lbhealth.redisCaMount" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.tls.caSecret }}
- name: redis-ca
  mountPath: /etc/lbhealth/redis-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Environment common to serve, worker and writer. */}}
{{- define "lbhealth.commonEnv" -}}
{{ include "lbhealth.redisEnv" . }}
- name: LBHEALTH_CONFIG
  value: /etc/lbhealth/lbhealth.yaml
- name: LBHEALTH_JOB_TIMEOUT
  value: {{ .Values.worker.jobTimeout | quote }}
{{- if .Values.fixes.enabled }}
# fix jobs (previews, approved writes) go to the writer's queue: only the writer runs them
- name: LBHEALTH_FIX_QUEUE
  value: lbhealth-fixes
{{- end }}
{{- end -}}

{{/* Cloud credentials: Tencent keys from a Secret; AWS through IRSA / Pod Identity (nothing here). */}}
{{- define "lbhealth.cloudEnv" -}}
{{- $ := index . 0 -}}
{{- $secret := index . 1 -}}
{{- if $.Values.tencent.enabled }}
{{- $secret = required "tencent.existingSecret is required with tencent.enabled: a Secret with TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY" $secret }}
- name: TENCENTCLOUD_SECRET_ID
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: TENCENTCLOUD_SECRET_ID}
- name: TENCENTCLOUD_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: TENCENTCLOUD_SECRET_KEY}
{{- with $.Values.tencent.region }}
- name: TENCENTCLOUD_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "lbhealth.configVolume" -}}
- name: config
  configMap:
    name: {{ include "lbhealth.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- include "lbhealth.redisCaVolume" . }}
{{- end -}}

{{- define "lbhealth.configMounts" -}}
- name: config
  mountPath: /etc/lbhealth
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- include "lbhealth.redisCaMount" . }}
{{- end -}}
