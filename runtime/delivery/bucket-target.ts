import type { ObjectStore } from '../../storage/index.js';
import type { PartTarget } from './sink.js';

/** An attempt's own prefix in the customer's bucket: `<prefix>/<agentId>/<requestId>/<attempt>/`. */
export function attemptPrefix(prefix: string, agentId: string, requestId: string, attempt: number): string {
  return `${prefix}/${agentId}/${requestId}/${attempt}/`;
}

/** Writes an attempt's objects under its own prefix of the connection's bucket. */
export class BucketTarget implements PartTarget {
  readonly mode = 'bucket' as const;

  constructor(
    private readonly store: ObjectStore,
    private readonly keyPrefix: string,
  ) {}

  put(name: string, body: Buffer, contentType: string): Promise<void> {
    return this.store.put(`${this.keyPrefix}${name}`, body, contentType);
  }

  locate(name: string): string {
    return this.store.url(`${this.keyPrefix}${name}`);
  }
}
