import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ManifestPart } from '../../protocol/index.js';

/** Compression of result parts; zstd only where this Node's zlib has it (checked at config load). */
export type Compression = 'gzip' | 'zstd';

function compressor(compression: Compression): Transform {
  if (compression === 'gzip') return zlib.createGzip({ level: 6 });
  return (zlib as unknown as { createZstdCompress(): Transform }).createZstdCompress();
}

// Lines are gathered into chunks of this size before they reach the compressor: a zlib stream does one
// thread-pool round trip per write, so a write per record (a few hundred bytes) cost ~25x the
// compression itself (bench/README.md, "Delivery modes").
const CHUNK_BYTES = 256 * 1024;

/**
 * One part being written: lines are gathered into chunks, compressed as each chunk fills, and only the
 * compressed bytes are held, with a running sha256 and byte count over the uncompressed lines (what the
 * manifest records).
 */
export class PartWriter {
  records = 0;
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly chunks: Buffer[] = [];
  private readonly stream: Transform;
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(
    readonly name: string,
    compression: Compression,
  ) {
    this.stream = compressor(compression);
    this.stream.on('data', (chunk: Buffer) => this.chunks.push(chunk));
  }

  /** Appends one serialised record (without its newline); resolves when the compressor can take more. */
  async write(json: string): Promise<void> {
    const line = `${json}\n`;
    const size = Buffer.byteLength(line);
    this.pending.push(line);
    this.pendingBytes += size;
    this.bytes += size;
    this.records += 1;
    if (this.pendingBytes >= CHUNK_BYTES) await this.flush();
  }

  /** Ends the part: its compressed body and its manifest entry. */
  async seal(): Promise<{ body: Buffer; entry: ManifestPart }> {
    await this.flush();
    const ended = once(this.stream, 'end');
    this.stream.end();
    await ended;
    const body = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    return {
      body,
      entry: {
        name: this.name,
        records: this.records,
        bytes: this.bytes,
        sha256: this.hash.digest('hex'),
        compressedBytes: body.length,
      },
    };
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(chunk);
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }
}
