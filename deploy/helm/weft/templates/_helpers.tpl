{{/* Names: <release>-weft unless the release name already holds the chart's name; at most 63 characters. */}}
{{- define "weft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "weft.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "weft.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "weft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "weft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "weft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "weft.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "weft.webhookServiceName" -}}
{{- printf "%s-injector" (include "weft.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "weft.webhookName" -}}
{{- printf "%s-sidecar-injector-%s" (include "weft.fullname" .) .Values.meshName | trunc 253 }}
{{- end }}

{{- define "weft.caSecretName" -}}
{{- if eq .Values.ca.source "secret" }}
{{- required "ca.existingSecret is required when ca.source is secret" .Values.ca.existingSecret }}
{{- else }}
{{- printf "%s-ca" (include "weft.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The generated CA as JSON (Cert, Key: PEM): the Secret's when it exists (helm upgrade, found with lookup),
else a new root. Made once per render and kept in .Values, since the Secret and the webhook's caBundle are
rendered by two templates and two genCA calls would give two roots.
*/}}
{{- define "weft.generatedCA" -}}
{{- if not (hasKey .Values "__weftGeneratedCA") }}
{{- $name := printf "%s-ca" (include "weft.fullname" .) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
{{- $ca := dict }}
{{- if and $existing (index ($existing.data | default dict) "tls.crt") }}
{{- $ca = dict "Cert" (index $existing.data "tls.crt" | b64dec) "Key" (index $existing.data "tls.key" | b64dec) }}
{{- else }}
{{- $gen := genCA (printf "%s mesh root" .Values.meshName) (int .Values.ca.validityDays) }}
{{- $ca = dict "Cert" $gen.Cert "Key" $gen.Key }}
{{- end }}
{{- $_ := set .Values "__weftGeneratedCA" ($ca | toJson) }}
{{- end }}
{{- index .Values "__weftGeneratedCA" }}
{{- end }}

{{/* The webhook's caBundle (base64 PEM): the generated root, or the brought Secret's root. */}}
{{- define "weft.caBundle" -}}
{{- if eq .Values.ca.source "generate" }}
{{- (fromJson (include "weft.generatedCA" .)).Cert | b64enc }}
{{- else if .Values.ca.caBundle }}
{{- .Values.ca.caBundle | b64enc }}
{{- else }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.ca.existingSecret }}
{{- $pem := "" }}
{{- if $secret }}
{{- $pem = index $secret.data "ca.crt" | default (index $secret.data "tls.crt") | default "" | b64dec }}
{{- end }}
{{- if not $pem }}
{{- fail (printf "the webhook needs the mesh root for its caBundle and the Secret %q cannot be read now (helm template has no cluster, or the Secret does not exist yet): create the Secret first, give the root's PEM in ca.caBundle, or set injector.registerWebhook: true so that Weft registers the webhook itself" .Values.ca.existingSecret) }}
{{- end }}
{{- $pem | b64enc }}
{{- end }}
{{- end }}
