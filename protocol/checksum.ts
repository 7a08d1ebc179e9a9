import { createHash, type Hash } from 'node:crypto';
import type { MetadataRecord } from './frames.js';

/** A record as one line of the committed JSONL result; both sides hash exactly these bytes. */
export function recordLine(record: MetadataRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** Running sha256 over an attempt's records in order; equals `sha256sum` of the committed JSONL file. */
export class ResultDigest {
  private readonly hash: Hash = createHash('sha256');
  records = 0;

  /** Adds records in the order they were sent. */
  update(records: readonly MetadataRecord[]): void {
    for (const record of records) this.updateLine(recordLine(record));
  }

  /** Adds one already-serialised line. */
  updateLine(line: string): void {
    this.hash.update(line);
    this.records += 1;
  }

  /** Hex digest; the object cannot be used afterwards. */
  hex(): string {
    return this.hash.digest('hex');
  }
}
