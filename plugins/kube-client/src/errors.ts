import { WeftError } from '@weft/core';

/**
 * A request to the Kubernetes API failed. `status` is the HTTP status when the server answered (null for a
 * connection that failed or broke); `statusCode` repeats it under the name client-node's informer looks for
 * (a 410 there means "list again").
 */
export class KubernetesApiError extends WeftError {
  readonly statusCode: number | undefined;

  constructor(
    message: string,
    readonly status: number | null,
    options: { cause?: unknown } = {},
  ) {
    // Only answers that say the request itself is wrong (4xx but 408 and 429) fail again as they are.
    super('KUBERNETES_API_FAILED', message, { retriable: isRetriableStatus(status), ...options });
    this.statusCode = status ?? undefined;
  }
}

/** The retry rule: no answer, 5xx, 408 (timeout) and 429 (throttled) may pass on a later try. */
export function isRetriableStatus(status: number | null): boolean {
  return status === null || status >= 500 || status === 408 || status === 429;
}

/** The apiserver's own message from an error body (a meta/v1 Status), or the body's first bytes. */
function messageOf(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return messageOf(JSON.parse(body));
    } catch {
      // Not JSON (a proxy's HTML page, say): its first bytes are the message.
      return body.slice(0, 300);
    }
  }
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return body === undefined ? '' : JSON.stringify(body).slice(0, 300);
}

/**
 * Turns what client-node throws (an ApiException from a typed API with `code` and `body`, a watch error
 * with `statusCode`, a fetch error) into a KubernetesApiError naming the request: "GET <url>: HTTP 403: ...".
 */
export function toKubernetesApiError(where: string, err: unknown): KubernetesApiError {
  if (err instanceof KubernetesApiError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown } | null;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : null;
  if (status !== null) {
    const detail = messageOf(e?.body) || (typeof e?.message === 'string' ? e.message.split('\n')[0] : '');
    return new KubernetesApiError(`${where}: HTTP ${status}: ${detail}`, status, { cause: err });
  }
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new KubernetesApiError(`${where}: ${message}`, null, { cause: err });
}
