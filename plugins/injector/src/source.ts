/**
 * The injector as Weft runs it. The plugin API's only long-running extension point is ResourceSource, so
 * the webhook is one whose start() brings the server up and appends nothing to the log. Its issuer and
 * proxy adapter are resolved from the container at start, when every plugin has registered.
 */
import { isIP } from 'node:net';
import type { DependencyContainer } from 'tsyringe';
import {
  ConfigError,
  servingCertificateRequest,
  Tokens,
  type CertificateIssuer,
  type Logger,
  type ProxyAdapter,
  type ResourceSource,
  type SourceSink,
} from '@weft/core';
import type { InjectorConfig } from './config.js';
import { SecretCollector, type SweepResult } from './gc.js';
import { SidecarInjector } from './injector.js';
import { connectKubernetes } from '@weft/kube-client';
import { connectInjectorKube, type InjectorKube } from './cluster.js';
import { meshConfigReader } from './meshconfig.js';
import { buildWebhookConfiguration, DEFAULT_INJECTION_OPTIONS, type InjectionOptions, type WebhookRegistration } from './patch.js';
import { WebhookServer } from './server.js';

export interface InjectorSourceOptions {
  readonly config: InjectorConfig;
  readonly container: DependencyContainer;
  readonly trustDomain: string;
  readonly logger: Logger;
  /** For tests: an API client instead of one from the kubeconfig. */
  readonly kube?: InjectorKube;
  /** For tests: the MeshConfig reader; by default the cluster's MeshConfig is listed (none with a test `kube`). */
  readonly meshConfig?: () => Promise<unknown>;
}

function resolveAll<T>(container: DependencyContainer, token: string): T[] {
  return container.isRegistered(token, true) ? container.resolveAll<T>(token) : [];
}

/** Names the API server uses to reach the webhook, for the serving certificate. */
export function servingNames(config: InjectorConfig): { dnsNames: string[]; ipAddresses: string[] } {
  const names: string[] = [...config.servingNames];
  if (config.webhookUrl !== undefined) {
    // The port does not matter for the certificate; {port} only has to parse.
    names.unshift(new URL(config.webhookUrl.replace('{port}', '1')).hostname.replace(/^\[|\]$/g, ''));
  } else {
    const { name, namespace } = config.service;
    names.unshift(`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`);
  }
  const unique = [...new Set(names)];
  return { dnsNames: unique.filter((n) => isIP(n) === 0), ipAddresses: unique.filter((n) => isIP(n) !== 0) };
}

export class InjectorSource implements ResourceSource {
  readonly name = 'sidecar-injector';
  /**
   * It appends nothing, so it runs on every replica of a shared log: the API server reaches the webhook
   * through a Service over all of them. Its Secret collector deletes with a uid precondition and takes an
   * already deleted Secret as done, so replicas collecting at once do not conflict.
   */
  readonly everyReplica = true;
  private server: WebhookServer | undefined;
  private listeningPort = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private collector: SecretCollector | undefined;

  constructor(private readonly options: InjectorSourceOptions) {}

  /** The port the webhook listens on (0 before start). */
  get port(): number {
    return this.listeningPort;
  }

  async start(_sink: SourceSink): Promise<void> {
    const { config, container, logger } = this.options;
    const issuers = resolveAll<CertificateIssuer>(container, Tokens.CertificateIssuer);
    const issuer = issuers[0];
    if (issuer === undefined) {
      throw new ConfigError('the sidecar injector needs a certificate issuer for proxy and webhook certificates; add @weft/plugin-ca-local to plugins');
    }
    const adapter = resolveAll<ProxyAdapter>(container, Tokens.ProxyAdapter).find((a) => a.kind === config.proxyKind);
    if (adapter?.bootstrap === undefined) {
      throw new ConfigError(
        `the sidecar injector writes bootstraps for proxy kind "${config.proxyKind}", but ${adapter === undefined ? 'no adapter of that kind is loaded' : 'its adapter has no bootstrap'}; ` +
          'add @weft/plugin-envoy to plugins or set proxyKind',
      );
    }
    const connect = { ...(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }), ...(config.context === undefined ? {} : { context: config.context }) };
    const kube = this.options.kube ?? (await connectInjectorKube(connect));
    const meshConfig = this.options.meshConfig ?? (this.options.kube === undefined ? meshConfigReader(await connectKubernetes(connect)) : undefined);
    const injection: InjectionOptions = {
      ...DEFAULT_INJECTION_OPTIONS,
      meshName: config.meshName,
      sidecarImage: config.sidecarImage,
      initImage: config.initImage,
      healthcheckImage: config.healthcheckImage,
      proxyUid: config.proxyUid,
      adsPort: config.xds.port,
    };
    const injector = new SidecarInjector({ injection, kube, issuer, adapter, trustDomain: this.options.trustDomain, xds: config.xds, logger,
      ...(meshConfig === undefined ? {} : { meshConfig }),
      ...(config.proxyCertificateValidityMs === undefined ? {} : { proxyCertificateValidityMs: config.proxyCertificateValidityMs }),
    });

    const issueServing = async (): Promise<{ certPem: string; keyPem: string; notBefore: Date; notAfter: Date }> => {
      const cert = await issuer.issue(servingCertificateRequest(servingNames(config)));
      return { certPem: [cert.certPem, ...cert.chainPem].map((p) => p.trim()).join('\n') + '\n', keyPem: cert.keyPem, notBefore: cert.notBefore, notAfter: cert.notAfter };
    };
    const first = await issueServing();
    const server = new WebhookServer({ path: config.path, certificate: first, admit: (r) => injector.admit(r), logger });
    this.listeningPort = await server.listen(config.listenHost, config.listenPort);
    this.server = server;
    this.scheduleRenewal(first, issueServing);

    try {
      if (config.registerWebhook) await kube.applyWebhookConfiguration(this.webhookConfiguration(issuer.trustBundle()));
    } catch (err) {
      // Weft only stops sources whose start succeeded: close the server here.
      await this.stop();
      throw err;
    }
    // A root rotation: a serving certificate from the signing root now, then the caBundle, so the API server
    // never holds a bundle without the root of what the webhook serves (at retire the old root goes last).
    this.unsubscribe = issuer.onTrustBundleChange?.((bundle) => {
      issueServing()
        .then(async (cert) => {
          this.server?.setCertificate(cert);
          if (config.registerWebhook) await kube.applyWebhookConfiguration(this.webhookConfiguration(bundle));
          logger.info('webhook certificate and caBundle follow the trust bundle', { webhook: config.webhookName, roots: bundle.length });
        })
        .catch((err: Error) => {
          logger.error('following the trust bundle change failed; the API server may refuse the webhook until it is fixed', { webhook: config.webhookName, error: err.message });
        });
    });
    this.collector = new SecretCollector({ kube, meshName: config.meshName, sweepMs: config.secretSweepMs, graceMs: config.secretGraceMs, logger });
    this.collector.start();
    logger.info('sidecar injector listening', {
      address: `${config.listenHost}:${this.listeningPort}`,
      path: config.path,
      webhook: config.registerWebhook ? config.webhookName : null,
      mesh: config.meshName,
      failurePolicy: config.failurePolicy,
    });
  }

  /** The MutatingWebhookConfiguration for a trust bundle (after start: the URL's {port} is known). */
  webhookConfiguration(caBundle: readonly string[]): Record<string, unknown> & { metadata: { name: string } } {
    const { config } = this.options;
    const clientConfig: WebhookRegistration['clientConfig'] =
      config.webhookUrl !== undefined
        ? { url: config.webhookUrl.replace('{port}', String(this.listeningPort)) }
        : { service: { ...config.service, path: config.path } };
    return buildWebhookConfiguration({
      name: config.webhookName,
      meshName: config.meshName,
      caBundle,
      failurePolicy: config.failurePolicy,
      timeoutSeconds: config.timeoutSeconds,
      clientConfig,
    }) as Record<string, unknown> & { metadata: { name: string } };
  }

  /** Renews the serving certificate at two thirds of its life, so the API server never sees it expired. */
  private scheduleRenewal(
    cert: { notBefore: Date; notAfter: Date },
    issue: () => Promise<{ certPem: string; keyPem: string; notBefore: Date; notAfter: Date }>,
  ): void {
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    const delay = Math.max(1_000, Math.min(cert.notBefore.getTime() + (life * 2) / 3 - Date.now(), 2 ** 31 - 1));
    this.renewTimer = setTimeout(() => {
      issue().then(
        (next) => {
          this.server?.setCertificate(next);
          this.options.logger.info('webhook serving certificate renewed', { notAfter: next.notAfter.toISOString() });
          this.scheduleRenewal(next, issue);
        },
        (err: Error) => {
          this.options.logger.error('renewing the webhook serving certificate failed; retrying in a minute', { error: err.message });
          this.scheduleRenewal({ notBefore: new Date(Date.now() - 1), notAfter: new Date(Date.now() + 90_000) }, issue);
        },
      );
    }, delay);
    this.renewTimer.unref();
  }

  /** Runs a sweep of orphaned bootstrap Secrets now (after one in progress); undefined before start. */
  sweepSecrets(): Promise<SweepResult> | undefined {
    return this.collector?.sweep();
  }

  async stop(): Promise<void> {
    clearTimeout(this.renewTimer);
    await this.collector?.stop();
    this.collector = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.server?.close();
    this.server = undefined;
  }
}
