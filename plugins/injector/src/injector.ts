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
import { admissionDenied, admissionResponse, checkPod, type AdmissionRequest } from './admission.js';
import type { InjectorKube } from './cluster.js';
import {
  buildProxySecret,
  injectionDecision,
  meshConfigExclusions,
  metaOf,
  planPodInjection,
  PodInjectionError,
  proxySecretName,
  proxyTlsFiles,
  type InjectionOptions,
  type PodInjection,
} from './patch.js';

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
  /**
   * The mesh's MeshConfig as the API server has it (its spec.traffic exclusion lists apply to every pod), or
   * undefined when there is none. Asked at each injection; absent: no global exclusions.
   */
  readonly meshConfig?: () => Promise<unknown>;
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
    let plan: PodInjection;
    try {
      plan = planPodInjection(pod, uuid, o.injection, meshConfigExclusions(o.meshConfig === undefined ? undefined : await o.meshConfig()));
    } catch (err) {
      if (!(err instanceof PodInjectionError)) throw err;
      o.logger.info('pod refused', { namespace: request.namespace, pod: podName, field: err.field, reason: err.message });
      return { review: admissionDenied(request.uid, `the sidecar injector cannot inject this pod: ${err.message}`) };
    }
    const { patch, warnings } = plan;
    // The adapter's presence of bootstrap() is checked when the injector starts. The original probes go into
    // the bootstrap (OSM's static probe listeners): they are fixed for the pod's life, as its spec is.
    const bootstrap = (o.adapter.bootstrap as NonNullable<ProxyAdapter['bootstrap']>).call(o.adapter, proxy, server, { healthProbes: plan.healthProbes });

    // A dry run must have no side effects (sideEffects: NoneOnDryRun): no certificate, no Secret.
    if (request.dryRun) return { review: admissionResponse(request.uid, patch, warnings), uuid };

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
    return { review: admissionResponse(request.uid, patch, warnings), uuid };
  }
}

function describeName(pod: Record<string, unknown>): string {
  const meta = pod['metadata'] as Record<string, unknown> | undefined;
  const generate = meta?.['generateName'];
  return typeof meta?.['name'] === 'string' ? meta['name'] : typeof generate === 'string' ? `${generate}*` : '(unnamed)';
}
