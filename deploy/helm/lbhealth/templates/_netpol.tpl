{{/* Egress every lbhealth pod needs: DNS, Redis, HTTPS (Slack, cloud APIs, SNS certificates). */}}
{{- define "lbhealth.egressBase" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- if eq .Values.redis.mode "bundled" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "lbhealth.selector" (list . "redis") | nindent 10 }}
  ports:
    - {port: 6379, protocol: TCP}
{{- else }}
- ports:
    - {port: {{ .Values.redis.external.port }}, protocol: TCP}
    {{- range $port := .Values.redis.external.sentinel.hosts | include "lbhealth.sentinelPorts" | fromJsonArray }}
    - {port: {{ $port }}, protocol: TCP}
    {{- end }}
  {{- with .Values.redis.external.cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end }}
- ports:
    - {port: 443, protocol: TCP}
{{- end -}}

{{/* The Kubernetes API: policies see the endpoint's port (after the Service's DNAT), which is not
always 443; networkPolicy.apiServerPorts lists them. */}}
{{- define "lbhealth.egressApiServer" -}}
- ports:
    {{- range .Values.networkPolicy.apiServerPorts }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  {{- with .Values.networkPolicy.apiServerCidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end -}}


{{/* The Sentinels' ports, once each (a JSON list), from their host:port list. */}}
{{- define "lbhealth.sentinelPorts" -}}
{{- $ports := list -}}
{{- range . -}}
{{- $ports = append $ports (regexFind "[0-9]+$" . | int) -}}
{{- end -}}
{{- $ports | uniq | toJson -}}
{{- end -}}
