import { startMetricsServer, type MetricsServer, type WeftMetrics } from '../../observe/metrics.js';
import type { WeftConfig } from '../config.js';
import type { Runner } from './runner.js';
import type { Listening } from './xds.js';

/**
 * The Prometheus endpoint. The metrics themselves exist from the first step (the replay counts batches);
 * only the server that exposes them is a part that starts and stops.
 */
export class MetricsServerRunner implements Runner<Listening> {
  readonly name = 'metrics server';
  private server: MetricsServer | undefined;

  constructor(private readonly inputs: { readonly config: Pick<WeftConfig, 'metrics'>; readonly metrics: WeftMetrics }) {}

  async start(): Promise<Listening> {
    const { config, metrics } = this.inputs;
    this.server = await startMetricsServer(metrics, config.metrics.host, config.metrics.port);
    return { host: config.metrics.host, port: this.server.port };
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }
}
