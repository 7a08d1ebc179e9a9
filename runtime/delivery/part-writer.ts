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

/**
 * One part being written: lines are compressed as they arrive and only the compressed bytes are held,
 * with a running sha256 and byte count over the uncompressed lines (what the manifest records).
 */
export class PartWriter {
  records = 0;
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly chunks: Buffer[] = [];
  private readonly stream: Transform;

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
    this.hash.update(line);
    this.bytes += Buffer.byteLength(line);
    this.records += 1;
    if (!this.stream.write(line)) await once(this.stream, 'drain');
  }

  /** Ends the part: its compressed body and its manifest entry. */
  async seal(): Promise<{ body: Buffer; entry: ManifestPart }> {
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
}
