import { type Hash, createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type MetadataRecord, recordLine } from '../protocol/index.js';
import { fsyncDirectory } from './atomic-file.js';

/** Where a job's committed result lives, relative to the data directory. */
export function resultFile(jobId: string): string {
  return join('results', `${jobId}.jsonl`);
}

/** Removes every partial attempt of a job. */
export async function discardAttempts(dataDir: string, jobId: string): Promise<void> {
  await rm(join(dataDir, 'attempts', jobId), { recursive: true, force: true });
}

/**
 * One attempt's records as received so far, appended per batch to
 * `attempts/<jobId>/<attempt>.jsonl.partial`, with a running sha256 over exactly the bytes written.
 * Never readable through the API; `commit` renames it into `results/` once the runtime's totals match.
 */
export class PartialResult {
  records = 0;
  bytes = 0;
  batches = 0;
  private readonly hash: Hash = createHash('sha256');
  private closed = false;

  private constructor(
    private readonly dataDir: string,
    readonly jobId: string,
    readonly attempt: number,
    private readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Starts an attempt, deleting any earlier (superseded) attempt of the same job. */
  static async start(dataDir: string, jobId: string, attempt: number): Promise<PartialResult> {
    await discardAttempts(dataDir, jobId);
    const dir = join(dataDir, 'attempts', jobId);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${attempt}.jsonl.partial`);
    return new PartialResult(dataDir, jobId, attempt, path, await open(path, 'w'));
  }

  /** Appends one batch; the batch is durable in order before the caller acknowledges it. */
  async append(records: readonly MetadataRecord[]): Promise<void> {
    const text = records.map(recordLine).join('');
    if (text.length > 0) await this.handle.appendFile(text, 'utf8');
    this.hash.update(text, 'utf8');
    this.records += records.length;
    this.bytes += Buffer.byteLength(text);
    this.batches += 1;
  }

  /** Appends already-serialised JSONL holding `records` lines (a verified part of object delivery). */
  async appendText(text: string, records: number): Promise<void> {
    if (text.length > 0) await this.handle.appendFile(text, 'utf8');
    this.hash.update(text, 'utf8');
    this.records += records;
    this.bytes += Buffer.byteLength(text);
    this.batches += 1;
  }

  /** sha256 hex of everything appended so far; the running hash stays usable. */
  sha256(): string {
    return this.hash.copy().digest('hex');
  }

  /** fsyncs and renames the attempt into place as the job's result; returns its relative path. */
  async commit(): Promise<string> {
    await this.handle.sync();
    await this.close();
    const relative = resultFile(this.jobId);
    await rename(this.path, join(this.dataDir, relative));
    await fsyncDirectory(join(this.dataDir, 'results'));
    await discardAttempts(this.dataDir, this.jobId);
    return relative;
  }

  /** Deletes the attempt (superseded, refused, failed or cancelled). */
  async discard(): Promise<void> {
    await this.close();
    // Only this attempt's file: a newer attempt of the job may already be writing next to it.
    await rm(this.path, { force: true });
    await rmdir(dirname(this.path)).catch(() => undefined);
  }

  /** Releases the file handle without touching the file (cloud shutdown). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
