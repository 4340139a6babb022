/**
 * What one admission does: decide, and for a pod that gets a sidecar, issue its bootstrap certificate,
 * write its Secret, and answer with the patch. The pure parts live in patch.ts; this module holds the
 * order of the I/O and what is logged (never the key).
 */
import { randomUUID } from 'node:crypto';
import {
  proxyCertificateRequest,
  type BootstrapServer,
  type CertificateIssuer,
  type Logger,
  type ProxyAdapter,
  type ProxyIdentity,
} from '@weft/core';
import { admissionResponse, checkPod, type AdmissionRequest } from './admission.js';
import type { InjectorKube } from './kube.js';
import { buildPodPatch, buildProxySecret, injectionDecision, metaOf, proxySecretName, proxyTlsFiles, type InjectionOptions } from './patch.js';

export interface SidecarInjectorOptions {
  readonly injection: InjectionOptions;
  readonly kube: Pick<InjectorKube, 'getNamespace' | 'createSecret'>;
  readonly issuer: CertificateIssuer;
  /** The adapter of the proxy kind the sidecar is (its bootstrap and its name in the certificate CN). */
  readonly adapter: ProxyAdapter;
  readonly trustDomain: string;
  /** Weft's ADS address as the sidecar dials it. */
  readonly xds: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  /** Validity of proxy bootstrap certificates; the issuer's default when absent. */
  readonly proxyCertificateValidityMs?: number;
  /** For tests; crypto.randomUUID otherwise. */
  readonly uuid?: () => string;
}

export interface Admitted {
  /** The AdmissionReview to answer with. */
  readonly review: Record<string, unknown>;
  /** The proxy uuid when the pod was injected. */
  readonly uuid?: string;
}

export class SidecarInjector {
  private readonly uuid: () => string;

  constructor(private readonly options: SidecarInjectorOptions) {
    this.uuid = options.uuid ?? randomUUID;
  }

  /** Answers one request; throws AdmissionReviewError for a bad request, other errors for failures of ours. */
  async admit(request: AdmissionRequest): Promise<Admitted> {
    if (request.operation !== 'CREATE') return { review: admissionResponse(request.uid) };
    checkPod(request);
    const o = this.options;
    const namespace = metaOf(await o.kube.getNamespace(request.namespace));
    const pod = request.object;
    const podName = request.name || describeName(pod);
    const decision = injectionDecision(pod, namespace, o.injection);
    if (!decision.inject) {
      o.logger.debug('pod not injected', { namespace: request.namespace, pod: podName, reason: decision.reason, detail: decision.detail });
      return { review: admissionResponse(request.uid) };
    }

    const uuid = this.uuid();
    const spec = pod['spec'] as Record<string, unknown>;
    // The ServiceAccount admission plugin has usually filled serviceAccountName by now; `serviceAccount` is its
    // deprecated alias, and Kubernetes' own default is "default".
    const named = [spec['serviceAccountName'], spec['serviceAccount']].find((v): v is string => typeof v === 'string' && v !== '');
    const sa = named ?? 'default';
    const proxy: ProxyIdentity = { uuid, kind: o.adapter.kind, serviceAccount: sa, namespace: request.namespace, trustDomain: o.trustDomain };
    const server: BootstrapServer = { host: o.xds.host, port: o.xds.port, tls: proxyTlsFiles(o.injection) };
    // The adapter's presence of bootstrap() is checked when the injector starts.
    const bootstrap = (o.adapter.bootstrap as NonNullable<ProxyAdapter['bootstrap']>).call(o.adapter, proxy, server);
    const patch = buildPodPatch(pod, uuid, o.injection);

    // A dry run must have no side effects (sideEffects: NoneOnDryRun): no certificate, no Secret.
    if (request.dryRun) return { review: admissionResponse(request.uid, patch), uuid };

    const cert = await o.issuer.issue(proxyCertificateRequest(proxy, {
        trustDomain: o.trustDomain,
        ...(o.proxyCertificateValidityMs === undefined ? {} : { validityMs: o.proxyCertificateValidityMs }),
      }));
    const secret = buildProxySecret({
      uuid,
      namespace: request.namespace,
      meshName: o.injection.meshName,
      bootstrap,
      certChainPem: [cert.certPem, ...cert.chainPem].map((p) => p.trim()).join('\n'),
      keyPem: cert.keyPem,
      trustBundle: o.issuer.trustBundle(),
    });
    await o.kube.createSecret(request.namespace, secret);
    o.logger.info('sidecar injected', {
      namespace: request.namespace,
      pod: podName,
      uuid,
      serviceAccount: sa,
      secret: proxySecretName(uuid),
      certificate: { fingerprint: cert.fingerprint, serial: cert.serial, notAfter: cert.notAfter.toISOString() },
    });
    return { review: admissionResponse(request.uid, patch), uuid };
  }
}

function describeName(pod: Record<string, unknown>): string {
  const meta = pod['metadata'] as Record<string, unknown> | undefined;
  const generate = meta?.['generateName'];
  return typeof meta?.['name'] === 'string' ? meta['name'] : typeof generate === 'string' ? `${generate}*` : '(unnamed)';
}
