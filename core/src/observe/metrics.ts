import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Weft's Prometheus metrics, on a registry of their own (never prom-client's global one, so that two Weft
 * instances in one process, as in tests, do not collide). Names OSM users know are kept where they exist.
 */
export class WeftMetrics {
  readonly registry: Registry;

  // OSM names
  readonly proxyConnectCount: Counter;
  readonly proxyReconnectCount: Counter;
  readonly responseSendSuccess: Counter<'type'>;
  readonly responseSendError: Counter<'type'>;
  readonly xdsRequestCount: Counter<'type'>;
  readonly maxConnectionsRejected: Counter;
  readonly configUpdateTime: Histogram<'resource_type' | 'success'>;
  readonly certIssuedCount: Counter;
  readonly certIssuedTime: Histogram;

  // Weft's own
  readonly connectedProxies: Gauge;
  readonly pushes: Counter<'type'>;
  readonly nacks: Counter<'type'>;
  readonly pushDuration: Histogram;
  readonly convergence: Histogram;
  readonly eventsApplied: Counter<'kind' | 'op'>;
  readonly logOffset: Gauge;
  readonly logLag: Gauge;
  /** 1 on the writer of a shared event log, 0 on a follower (label: replica name); absent for a log of one process. */
  readonly logWriter: Gauge<'replica'>;
  readonly derivationsRecomputed: Counter;
  readonly streamProblems: Counter<'problem'>;
  readonly secretRefused: Counter;
  readonly ready: Gauge;
  readonly logAppendFailures: Counter<'reason'>;
  readonly xdsConnections: Gauge;
  readonly xdsConnectionsRejected: Counter<'reason'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    const r = [registry];
    const fastBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    this.proxyConnectCount = new Counter({ name: 'osm_proxy_connect_count', help: 'Proxies that connected to the ADS server', registers: r });
    this.proxyReconnectCount = new Counter({
      name: 'osm_proxy_reconnect_count',
      help: 'Connections from a proxy uuid that had connected before',
      registers: r,
    });
    this.responseSendSuccess = new Counter({
      name: 'osm_proxy_response_send_success_count',
      help: 'xDS responses written to proxies',
      labelNames: ['type'],
      registers: r,
    });
    this.responseSendError = new Counter({
      name: 'osm_proxy_response_send_error_count',
      help: 'xDS responses that could not be written',
      labelNames: ['type'],
      registers: r,
    });
    this.xdsRequestCount = new Counter({
      name: 'osm_proxy_xds_request_count',
      help: 'xDS requests received from proxies',
      labelNames: ['type'],
      registers: r,
    });
    this.maxConnectionsRejected = new Counter({
      name: 'osm_proxy_max_connections_rejected',
      help: 'Streams refused because the maximum number of connected proxies was reached',
      registers: r,
    });
    this.configUpdateTime = new Histogram({
      name: 'osm_proxy_config_update_time',
      help: 'Seconds spent building and writing one push to a proxy',
      labelNames: ['resource_type', 'success'],
      buckets: fastBuckets,
      registers: r,
    });
    this.certIssuedCount = new Counter({ name: 'osm_cert_issued_count', help: 'Certificates issued', registers: r });
    this.certIssuedTime = new Histogram({
      name: 'osm_cert_issued_time',
      help: 'Seconds taken to issue a certificate',
      buckets: fastBuckets,
      registers: r,
    });

    this.connectedProxies = new Gauge({ name: 'weft_connected_proxies', help: 'Proxies with an open ADS stream', registers: r });
    this.pushes = new Counter({ name: 'weft_xds_pushes_total', help: 'xDS responses pushed, by type', labelNames: ['type'], registers: r });
    this.nacks = new Counter({ name: 'weft_xds_nacks_total', help: 'xDS responses NACKed by proxies, by type', labelNames: ['type'], registers: r });
    this.pushDuration = new Histogram({
      name: 'weft_push_duration_seconds',
      help: 'Seconds one proxy push took (derivations, assembling bytes, writing)',
      buckets: fastBuckets,
      registers: r,
    });
    this.convergence = new Histogram({
      name: 'weft_convergence_seconds',
      help: 'Seconds from an event being appended to the log to the ACK of the response it caused',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    });
    this.eventsApplied = new Counter({
      name: 'weft_events_applied_total',
      help: 'Events folded into the catalog',
      labelNames: ['kind', 'op'],
      registers: r,
    });
    this.logOffset = new Gauge({ name: 'weft_log_offset', help: 'Offset of the last event applied', registers: r });
    // Read at scrape time: the head moves with every append, whoever appends (this process or another).
    const lagSource = (): number | undefined => this.lagSource?.();
    this.logLag = new Gauge({
      name: 'weft_log_lag_events',
      help: 'Events appended to the log but not yet applied to the catalog (head - 1 - applied offset)',
      registers: r,
      collect() {
        const lag = lagSource();
        if (lag !== undefined) this.set(lag);
      },
    });
    const writerSource = (): { replicaId: string; role: string } | undefined => this.writerSource?.();
    this.logWriter = new Gauge({
      name: 'weft_log_writer',
      help: 'This replica of a shared event log is its writer (1) or a follower (0), labelled with the replica name',
      labelNames: ['replica'],
      registers: r,
      collect() {
        const s = writerSource();
        this.reset();
        if (s !== undefined) this.set({ replica: s.replicaId }, s.role === 'writer' ? 1 : 0);
      },
    });
    this.derivationsRecomputed = new Counter({
      name: 'weft_derivations_recomputed_total',
      help: 'Derivations recomputed after an invalidation',
      registers: r,
    });
    this.streamProblems = new Counter({
      name: 'weft_xds_stream_problems_total',
      help: 'Bad input on ADS streams (unknown types, malformed requests, floods, identity failures), once per stream and problem',
      labelNames: ['problem'],
      registers: r,
    });
    this.secretRefused = new Counter({
      name: 'weft_xds_secret_refused_total',
      help: "Another identity's key secret refused to a proxy (subscribed to or found in its resource set), once per stream and secret",
      registers: r,
    });
    this.xdsConnections = new Gauge({ name: 'weft_xds_connections', help: 'Open TCP connections to the ADS port (with or without a stream)', registers: r });
    this.xdsConnectionsRejected = new Counter({
      name: 'weft_xds_connections_rejected_total',
      help: 'ADS connections the server closed: over xds.maxConnections (limit), TLS handshake not done (handshake) or no ADS stream (idle) within xds.idleConnectionTimeoutMs',
      labelNames: ['reason'],
      registers: r,
    });
    const readySource = (): boolean | undefined => this.readySource?.();
    this.ready = new Gauge({
      name: 'weft_ready',
      help: 'Whether /readyz answers 200: start done, the log writable, the catalog within readiness.maxLagEvents (1) or not (0)',
      registers: r,
      collect() {
        const ready = readySource();
        if (ready !== undefined) this.set(ready ? 1 : 0);
      },
    });
    this.logAppendFailures = new Counter({
      name: 'weft_log_append_failures_total',
      help: 'Appends to the event log that failed, every attempt of a retried one, by cause (errno code such as EFBIG, or the error code)',
      labelNames: ['reason'],
      registers: r,
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  private lagSource: (() => number) | undefined;
  private readySource: (() => boolean) | undefined;

  private writerSource: (() => { replicaId: string; role: string }) | undefined;

  /** Where weft_log_writer reads this replica's role from at scrape time (logs shared by replicas only). */
  measureLogWriter(source: () => { replicaId: string; role: string }): void {
    this.writerSource = source;
  }

  /** Where the readiness gauge reads from at scrape time. */
  measureReadiness(source: () => boolean): void {
    this.readySource = source;
  }

  /** Where the log lag gauge reads from at scrape time. */
  measureLogLag(source: () => number): void {
    this.lagSource = source;
  }

  /** Counts a batch folded into the catalog (events by kind and op) and moves the log offset gauge. */
  observeBatch(batch: { readonly events: readonly { readonly kind: string; readonly op: string; readonly offset: number }[] }): void {
    // prom-client hashes the labels on every inc(): count per kind and op first (a batch holds few of them;
    // a start-up replay hands over 100-event batches by the thousand).
    const tally: { kind: string; op: string; n: number }[] = [];
    for (const e of batch.events) {
      let t: { kind: string; op: string; n: number } | undefined;
      for (const c of tally) {
        if (c.kind === e.kind && c.op === e.op) {
          t = c;
          break;
        }
      }
      if (t === undefined) tally.push({ kind: e.kind, op: e.op, n: 1 });
      else t.n++;
    }
    for (const t of tally) this.eventsApplied.inc({ kind: t.kind, op: t.op }, t.n);
    const last = batch.events[batch.events.length - 1];
    if (last !== undefined) this.logOffset.set(last.offset);
  }

  /** An Engine `onEvent` hook counting recomputations (runs that found an input changed). */
  engineListener(): (event: { readonly type: string }) => void {
    return (event) => {
      if (event.type === 'recompute' || event.type === 'unchanged') this.derivationsRecomputed.inc();
    };
  }

  /** Value of a counter or gauge (with labels) as currently recorded; for tests and debug pages. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const data = await metric.get();
    let sum = 0;
    for (const v of data.values) {
      const l = v.labels as Record<string, string | number>;
      if (Object.entries(labels).every(([k, want]) => String(l[k]) === want) && !('le' in l)) sum += v.value;
    }
    return sum;
  }

  /** Number of observations of a histogram. */
  async count(name: string): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const data = await metric.get();
    return data.values.filter((v) => (v as { metricName?: string }).metricName === `${name}_count`).reduce((a, v) => a + v.value, 0);
  }
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` in the Prometheus text format (OSM's metrics port is 9091). */
export async function startMetricsServer(metrics: WeftMetrics, host = '127.0.0.1', port = 9091): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
