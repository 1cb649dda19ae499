{{/* Labels shared by every object of one workload. */}}
{{- define "microservices.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: shop
app.kubernetes.io/managed-by: Helm
helm.sh/chart: {{ .chart }}
{{- end -}}

{{- define "microservices.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .name }}
{{- end -}}

{{/* Image reference pinned by tag and digest. */}}
{{- define "microservices.image" -}}
{{ .registry }}/{{ .repository }}:{{ .tag }}@{{ .digest }}
{{- end -}}
