/**
 * The webhook's HTTPS server: POST <path> with an AdmissionReview. A request the injector cannot read gets
 * a 400 naming what is wrong; a failure of ours (issuer, API server) a 500, so that the API server applies
 * the webhook's failurePolicy. Nothing a client sends can throw out of the handler.
 */
import type { AddressInfo } from 'node:net';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@weft/core';
import { AdmissionReviewError, parseAdmissionReview, type AdmissionRequest } from './admission.js';
import type { Admitted } from './injector.js';

/** AdmissionReviews of pods are a few KiB; the API server's own request limit is 3 MiB. */
const MAX_BODY = 3 * 1024 * 1024;

export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface WebhookServerOptions {
  readonly path: string;
  readonly certificate: ServingCertificate;
  readonly admit: (request: AdmissionRequest) => Promise<Admitted>;
  readonly logger: Logger;
}

export class WebhookServer {
  private readonly server: https.Server;

  constructor(private readonly options: WebhookServerOptions) {
    this.server = https.createServer(
      { cert: options.certificate.certPem, key: options.certificate.keyPem, minVersion: 'TLSv1.2' },
      (req, res) => void this.handle(req, res),
    );
  }

  /** Swaps the serving certificate; connections made from now on use it. */
  setCertificate(certificate: ServingCertificate): void {
    this.server.setSecureContext({ cert: certificate.certPem, key: certificate.keyPem, minVersion: 'TLSv1.2' });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (url.pathname !== this.options.path) return fail(res, 404, `no such path ${url.pathname}; the webhook serves POST ${this.options.path}`);
    if (req.method !== 'POST') return fail(res, 405, `use POST with an AdmissionReview, not ${req.method ?? '?'}`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type !== 'application/json') return fail(res, 415, `Content-Type must be application/json, got ${JSON.stringify(type)}`);

    let body: string;
    try {
      body = await readBody(req);
    } catch (err) {
      return fail(res, 413, (err as Error).message);
    }
    let request: AdmissionRequest;
    try {
      request = parseAdmissionReview(body);
    } catch (err) {
      this.options.logger.warn('bad admission request', { error: (err as Error).message });
      return fail(res, 400, (err as Error).message);
    }
    try {
      const admitted = await this.options.admit(request);
      send(res, 200, admitted.review);
    } catch (err) {
      if (err instanceof AdmissionReviewError) {
        this.options.logger.warn('bad admission request', { uid: request.uid, error: err.message });
        return fail(res, 400, err.message);
      }
      this.options.logger.error('admission failed', { uid: request.uid, namespace: request.namespace, error: (err as Error).message });
      fail(res, 500, `the sidecar injector failed: ${(err as Error).message}`);
    }
  }
}

const REASONS: Record<number, string> = { 400: 'BadRequest', 404: 'NotFound', 405: 'MethodNotAllowed', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 500: 'InternalError' };

/** Errors as a meta/v1 Status: the API server then shows our message in the error a user sees. */
function fail(res: ServerResponse, code: number, message: string): void {
  send(res, code, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message, reason: REASONS[code] ?? 'InternalError', code });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // An oversized body is read to its end and dropped, so the 413 still reaches the client.
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) reject(new Error(`the request body is larger than ${MAX_BODY} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
