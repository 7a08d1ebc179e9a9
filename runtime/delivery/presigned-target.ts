import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { Codes, type FrameOf, type UploadUrl } from '../../protocol/index.js';
import { dispatcherFor } from '../../storage/index.js';
import { fullJitterDelay } from '../backoff.js';
import type { PartTarget } from './sink.js';

/** Settings of pre-signed uploads (SDR_UPLOAD_*). */
export interface PresignedSettings {
  /** Origins (`https://host:port`) URLs may point at. */
  allowedOrigins: readonly string[];
  maxTries: number;
  backoffMs: number;
  grantTimeoutMs: number;
}

// A URL this close to its expiry is treated as expired, so an upload does not start on a dying URL.
const EXPIRY_MARGIN_MS = 5_000;
// Fresh URLs asked for one object before giving up: a cloud that refuses every URL it grants is broken.
const MAX_REFRESHES = 3;

/**
 * Uploads an attempt's objects to short-lived URLs the cloud grants: the ones sent with the request
 * (attempt 1), then more through `upload.request` / `upload.grant`. Retries 5xx and network errors with
 * backoff, asks again for a URL that expired or answered 403, and sends nothing to an origin the
 * customer did not allow. URLs carry the cloud's signature, so they are never logged, only object names.
 */
export class PresignedTarget implements PartTarget {
  readonly mode = 'presigned' as const;
  private readonly urls = new Map<string, UploadUrl>();
  private waiters: (() => void)[] = [];

  constructor(
    private readonly link: { send(frame: FrameOf<'upload.request'>): boolean },
    private readonly requestId: string,
    private readonly attempt: number,
    private readonly settings: PresignedSettings,
    private readonly signal: AbortSignal,
    initial: readonly UploadUrl[] = [],
  ) {
    for (const url of initial) this.urls.set(url.name, url);
  }

  /** URLs the cloud granted (`upload.grant`). */
  grant(urls: readonly UploadUrl[]): void {
    for (const url of urls) this.urls.set(url.name, url);
    for (const wake of this.waiters.splice(0)) wake();
  }

  locate(name: string): string {
    return name;
  }

  async put(name: string, body: Buffer, contentType: string): Promise<void> {
    let refreshes = 0;
    let failures = 0;
    let lastProblem = '';
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      const grant = await this.urlFor(name);
      const origin = new URL(grant.url).origin;
      if (!this.settings.allowedOrigins.includes(origin)) {
        throw new Codes.SDR_ERR_UPLOAD_ORIGIN(origin, this.settings.allowedOrigins.join(', '));
      }
      let status: number;
      try {
        const answer = await request(grant.url, {
          method: 'PUT',
          body,
          headers: { 'content-type': contentType, 'content-length': String(body.length) },
          dispatcher: dispatcherFor(grant.url),
          signal: this.signal,
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
        });
        status = answer.statusCode;
        await answer.body.dump();
      } catch (error) {
        if (this.signal.aborted) throw this.signal.reason;
        status = 0;
        lastProblem = `${(error as { code?: string }).code ?? 'network error'}: ${(error as Error).message}`;
      }
      if (status >= 200 && status < 300) return;
      if (status === 403 || status === 401) {
        // Expired or refused: drop it and ask for a fresh one.
        this.urls.delete(name);
        if (++refreshes > MAX_REFRESHES) {
          throw new Codes.SDR_ERR_DELIVERY_FAILED(
            `${name} at ${origin}`,
            refreshes,
            `HTTP ${status} even with fresh URLs`,
          );
        }
        continue;
      }
      if (status !== 0) lastProblem = `HTTP ${status}`;
      if (status !== 0 && status < 500 && status !== 408 && status !== 429) {
        throw new Codes.SDR_ERR_DELIVERY_FAILED(`${name} at ${origin}`, failures + 1, lastProblem);
      }
      if (++failures >= this.settings.maxTries) {
        throw new Codes.SDR_ERR_DELIVERY_FAILED(`${name} at ${origin}`, failures, lastProblem);
      }
      await sleep(Math.max(1, fullJitterDelay(failures, this.settings.backoffMs, 30_000)), undefined, {
        signal: this.signal,
      }).catch(() => undefined);
    }
  }

  private async urlFor(name: string): Promise<UploadUrl> {
    const usable = () => {
      const url = this.urls.get(name);
      return url && Date.parse(url.expiresAt) - Date.now() > EXPIRY_MARGIN_MS ? url : undefined;
    };
    const held = usable();
    if (held) return held;
    this.urls.delete(name);
    this.link.send({
      type: 'upload.request',
      requestId: this.requestId,
      attempt: this.attempt,
      names: [name],
    });
    const deadline = Date.now() + this.settings.grantTimeoutMs;
    for (;;) {
      const granted = usable();
      if (granted) return granted;
      if (this.signal.aborted) throw this.signal.reason;
      const left = deadline - Date.now();
      if (left <= 0) throw new Codes.SDR_ERR_UPLOAD_GRANT_TIMEOUT(name, this.settings.grantTimeoutMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
