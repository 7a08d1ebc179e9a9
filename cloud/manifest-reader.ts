import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { type Manifest, MANIFEST_NAME, manifestSchema } from '../protocol/index.js';
import { type ObjectStore, openStore, type StoreOptions } from '../storage/index.js';

/** Why an object-delivered attempt cannot be committed; `code` is the `job.nack` code. */
export class DeliveryRefusal extends Error {
  constructor(
    readonly code: 'CHECKSUM_MISMATCH' | 'MANIFEST_UNREADABLE',
    message: string,
  ) {
    super(message);
    this.name = 'DeliveryRefusal';
  }
}

/** Reads the objects of one attempt: a bucket prefix, or the cloud's own upload directory. */
export interface AttemptObjects {
  read(name: string): Promise<Buffer>;
}

const gunzip = promisify(zlib.gunzip);

// Parts being downloaded beyond the one being checked (each held compressed in memory).
const READ_AHEAD = 3;

async function decompress(body: Buffer, compression: Manifest['compression']): Promise<Buffer> {
  if (compression === 'gzip') return gunzip(body);
  const zstd = (
    zlib as unknown as { zstdDecompress?: (buffer: Buffer, cb: (e: Error | null, r: Buffer) => void) => void }
  ).zstdDecompress;
  if (!zstd)
    throw new DeliveryRefusal('MANIFEST_UNREADABLE', 'the manifest says zstd, which this cloud cannot read');
  return promisify(zstd)(body);
}

/**
 * The cloud's read-only view of customers' buckets: one store per configured reader (its own
 * credentials), found by the manifest URL the runtime names.
 */
export class BucketReaders {
  private readonly opened = new Map<StoreOptions, Promise<ObjectStore>>();

  constructor(private readonly readers: readonly StoreOptions[]) {}

  /** The attempt's objects next to the manifest at `url`; refuses a URL no reader covers. */
  async objectsAt(url: string): Promise<AttemptObjects> {
    for (const options of this.readers) {
      let store = this.opened.get(options);
      if (!store) {
        store = openStore(options);
        this.opened.set(options, store);
      }
      const opened = await store;
      if (!opened.owns(url)) continue;
      const key = opened.keyOf(url);
      if (!key.endsWith(`/${MANIFEST_NAME}`)) break;
      const prefix = key.slice(0, -MANIFEST_NAME.length);
      return { read: (name) => opened.get(`${prefix}${name}`) };
    }
    throw new DeliveryRefusal('MANIFEST_UNREADABLE', `the cloud has no read access configured for ${url}`);
  }
}

/**
 * Reads the manifest and every part, checks each part's size, record count and sha256 and the total
 * against the runtime's `job.end`, and hands each verified part's JSONL to `append` in order. Nothing is
 * committed by this function: the caller commits only when it returns.
 */
export async function verifyAttempt(
  objects: AttemptObjects,
  expected: { requestId: string; attempt: number; records: number; sha256: string; parts: number },
  append: (text: string, records: number) => Promise<void>,
): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse((await objects.read(MANIFEST_NAME)).toString('utf8')));
  } catch (error) {
    if (error instanceof DeliveryRefusal) throw error;
    throw new DeliveryRefusal(
      'MANIFEST_UNREADABLE',
      `manifest unreadable: ${(error as Error).message.slice(0, 300)}`,
    );
  }
  const mismatch = (what: string) =>
    new DeliveryRefusal('CHECKSUM_MISMATCH', `${what}; nothing was committed`);
  if (manifest.requestId !== expected.requestId || manifest.attempt !== expected.attempt) {
    throw mismatch(
      `the manifest is for ${manifest.requestId} attempt ${manifest.attempt}, not ${expected.requestId} attempt ${expected.attempt}`,
    );
  }
  if (
    manifest.records !== expected.records ||
    manifest.sha256 !== expected.sha256 ||
    manifest.parts.length !== expected.parts
  ) {
    throw mismatch('the manifest disagrees with job.end on records, sha256 or parts');
  }
  const total = createHash('sha256');
  let records = 0;
  let bytes = 0;
  // The next parts download while this one is checked: the whole read happens after job.end, so it
  // adds to the job's wall time, and a store's latency per object is most of it.
  const reads = new Map<number, Promise<Buffer>>();
  const readAhead = (index: number) => {
    const part = manifest.parts[index];
    if (!part || reads.has(index)) return;
    const read = objects.read(part.name);
    read.catch(() => undefined);
    reads.set(index, read);
  };
  for (const [index, part] of manifest.parts.entries()) {
    for (let ahead = index; ahead <= index + READ_AHEAD; ahead++) readAhead(ahead);
    let body: Buffer;
    try {
      body = await reads.get(index)!;
      reads.delete(index);
    } catch (error) {
      throw new DeliveryRefusal(
        'MANIFEST_UNREADABLE',
        `part ${part.name} unreadable: ${(error as Error).message.slice(0, 300)}`,
      );
    }
    if (body.length !== part.compressedBytes)
      throw mismatch(`part ${part.name} is ${body.length} bytes, the manifest says ${part.compressedBytes}`);
    let text: Buffer;
    try {
      text = await decompress(body, manifest.compression);
    } catch (error) {
      if (error instanceof DeliveryRefusal) throw error;
      throw mismatch(`part ${part.name} does not decompress`);
    }
    const sha256 = createHash('sha256').update(text).digest('hex');
    let lines = 0;
    for (let at = text.indexOf(10); at >= 0; at = text.indexOf(10, at + 1)) lines += 1;
    if (sha256 !== part.sha256 || text.length !== part.bytes || lines !== part.records) {
      throw mismatch(
        `part ${part.name} does not match its manifest entry (sha256 ${sha256}, ${text.length} bytes, ${lines} records)`,
      );
    }
    total.update(text);
    records += lines;
    bytes += text.length;
    await append(text.toString('utf8'), lines);
  }
  const sha256 = total.digest('hex');
  if (sha256 !== manifest.sha256 || records !== manifest.records || bytes !== manifest.bytes) {
    throw mismatch(
      `the parts add up to ${records} records / sha256 ${sha256}, the manifest says ${manifest.records} / ${manifest.sha256}`,
    );
  }
  return manifest;
}
