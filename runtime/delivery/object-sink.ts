import {
  MANIFEST_NAME,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ManifestPart,
  partName,
} from '../../protocol/index.js';
import type { AttemptStream } from '../attempt-stream.js';
import { type Compression, PartWriter } from './part-writer.js';
import type { AttemptSummary, PartTarget, ResultSink } from './sink.js';

/** Identity of the attempt, written into its manifest. */
export interface AttemptIdentity {
  requestId: string;
  attempt: number;
  agentId: string;
  connection: string;
}

/**
 * Bucket and presigned delivery: records become compressed JSONL parts of about `partBytes` (uncompressed),
 * each uploaded while the adapter goes on producing the next; at most one part fills while one uploads,
 * so memory stays near two compressed parts whatever the result's size. The manifest goes last, then
 * `job.end` names it and the cloud's commit (or nack) comes back over the tunnel as in tunnel mode.
 */
export class ObjectSink implements ResultSink {
  readonly mode: 'bucket' | 'presigned';
  private readonly parts: ManifestPart[] = [];
  private current: PartWriter | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  uploading = false;

  constructor(
    private readonly target: PartTarget,
    private readonly stream: AttemptStream,
    private readonly identity: AttemptIdentity,
    private readonly options: { compression: Compression; partBytes: number; signal: AbortSignal },
  ) {
    this.mode = target.mode;
  }

  async write(recordJson: readonly string[]): Promise<void> {
    for (const json of recordJson) {
      this.current ??= new PartWriter(
        partName(this.parts.length, this.options.compression),
        this.options.compression,
      );
      await this.current.write(json);
      if (this.current.bytes >= this.options.partBytes) await this.sealCurrent();
    }
  }

  async finish(summary: AttemptSummary) {
    if (this.current && this.current.records > 0) await this.sealCurrent();
    await this.inFlight;
    this.throwIfAborted();
    const manifest: Manifest = {
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      ...this.identity,
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      compression: this.options.compression,
      records: summary.records,
      bytes: this.parts.reduce((sum, part) => sum + part.bytes, 0),
      sha256: summary.sha256,
      parts: this.parts,
    };
    // Written last: a reader that finds no manifest ignores the attempt, so a crash never exposes a part.
    await this.target.put(
      MANIFEST_NAME,
      Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
      'application/json',
    );
    return this.stream.end({
      ...summary,
      objects: {
        parts: this.parts.length,
        delivery: { mode: this.mode, manifest: this.target.locate(MANIFEST_NAME) },
      },
    });
  }

  // Waits for the previous upload before starting this one: one part uploads while the next fills.
  private async sealCurrent(): Promise<void> {
    const writer = this.current;
    if (!writer) return;
    this.current = undefined;
    await this.inFlight;
    this.throwIfAborted();
    const { body, entry } = await writer.seal();
    this.parts.push(entry);
    const contentType = this.options.compression === 'gzip' ? 'application/gzip' : 'application/zstd';
    this.uploading = true;
    const upload = this.target.put(entry.name, body, contentType).finally(() => {
      this.uploading = false;
    });
    // Kept as the in-flight promise; its rejection surfaces at the next seal or at finish.
    upload.catch(() => undefined);
    this.inFlight = upload;
  }

  private throwIfAborted(): void {
    if (this.options.signal.aborted) throw this.options.signal.reason;
  }
}
