import type { DeliveryMode, FrameOf } from '../../protocol/index.js';

/** What an attempt reports when its last record has been handed over. */
export interface AttemptSummary {
  records: number;
  sha256: string;
  warnings: string[];
}

/**
 * Where an attempt's records go: the tunnel, the customer's bucket, or pre-signed URLs. `write` waits
 * while the destination is busy (that is what pauses the adapter); `finish` stores what is left, tells
 * the cloud and resolves with its commit.
 */
export interface ResultSink {
  readonly mode: DeliveryMode;
  /** True while a part is being uploaded (progress phase `uploading`). */
  readonly uploading: boolean;
  write(recordJson: readonly string[]): Promise<void>;
  finish(summary: AttemptSummary): Promise<FrameOf<'job.committed'>>;
}

/** Where the parts and manifest of one attempt are stored (a bucket prefix, or pre-signed URLs). */
export interface PartTarget {
  readonly mode: 'bucket' | 'presigned';
  put(name: string, body: Buffer, contentType: string): Promise<void>;
  /** How `job.end.delivery.manifest` names an object. */
  locate(name: string): string;
}
