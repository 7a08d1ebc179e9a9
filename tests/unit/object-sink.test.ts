import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type Manifest, manifestSchema, ResultDigest } from '../../protocol/index.js';
import { AttemptStream } from '../../runtime/attempt-stream.js';
import { ObjectSink } from '../../runtime/delivery/object-sink.js';
import type { PartTarget } from '../../runtime/delivery/sink.js';
import { verifyAttempt } from '../../cloud/manifest-reader.js';

/** A target that keeps objects in memory and records the order they were stored in. */
class MemoryTarget implements PartTarget {
  readonly mode = 'bucket' as const;
  readonly objects = new Map<string, Buffer>();
  readonly order: string[] = [];
  async put(name: string, body: Buffer): Promise<void> {
    this.objects.set(name, body);
    this.order.push(name);
  }
  locate(name: string): string {
    return `mem://${name}`;
  }
}

function records(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ kind: 'table', key: `db.s.t${i}`, comment: 'x'.repeat(i % 50) }),
  );
}

async function deliver(compression: 'gzip' | 'zstd') {
  const target = new MemoryTarget();
  const sent: string[] = [];
  const link = { isUp: true, sendText: (text: string) => sent.push(text) > 0, creditWindow: () => 8 };
  const stream = new AttemptStream(link, 'req-1', 1, new AbortController().signal);
  const sink = new ObjectSink(
    target,
    stream,
    { requestId: 'req-1', attempt: 1, agentId: 'ag', connection: 'pg' },
    { compression, partBytes: 64 * 1024, signal: new AbortController().signal },
  );
  const lines = records(5_000);
  const digest = new ResultDigest();
  for (let i = 0; i < lines.length; i += 700) {
    const batch = lines.slice(i, i + 700);
    for (const line of batch) digest.updateLine(`${line}\n`);
    await sink.write(batch);
  }
  const sha256 = digest.hex();
  const finished = sink.finish({ records: lines.length, sha256, warnings: [] });
  // The cloud commits once it has seen job.end.
  for (let waited = 0; !sent.some((text) => text.includes('"job.end"')); waited += 10) {
    if (waited > 30_000) throw new Error('no job.end was sent');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  stream.committed({ type: 'job.committed', requestId: 'req-1', attempt: 1, records: lines.length });
  await finished;
  return { target, sent, lines, sha256 };
}

describe('ObjectSink', () => {
  it.each(['gzip', 'zstd'] as const)(
    'writes %s parts, then the manifest, with the tunnel digest; the cloud reader verifies them',
    async (compression) => {
      const { target, sent, lines, sha256 } = await deliver(compression);
      expect(target.order.at(-1)).toBe('manifest.json');
      const manifest: Manifest = manifestSchema.parse(
        JSON.parse(target.objects.get('manifest.json')!.toString()),
      );
      expect(manifest.parts.length).toBeGreaterThan(2);
      expect(manifest).toMatchObject({ records: lines.length, sha256, compression });
      expect(target.order.slice(0, -1)).toEqual(manifest.parts.map((part) => part.name));
      const end = JSON.parse(sent.at(-1)!) as Record<string, unknown>;
      expect(end).toMatchObject({
        type: 'job.end',
        batches: manifest.parts.length,
        sha256,
        delivery: { mode: 'bucket', manifest: 'mem://manifest.json' },
      });
      let text = '';
      const verified = await verifyAttempt(
        { read: async (name) => target.objects.get(name)! },
        { requestId: 'req-1', attempt: 1, records: lines.length, sha256, parts: manifest.parts.length },
        async (part) => {
          text += part;
        },
      );
      expect(verified.sha256).toBe(sha256);
      expect(createHash('sha256').update(text).digest('hex')).toBe(sha256);
    },
  );

  it('lets the cloud reader refuse a part that does not match its manifest entry', async () => {
    const { target, lines, sha256 } = await deliver('gzip');
    target.objects.set('part-00001.jsonl.gz', zlib.gzipSync('{"kind":"x","key":"forged"}\n'));
    const manifest = manifestSchema.parse(JSON.parse(target.objects.get('manifest.json')!.toString()));
    await expect(
      verifyAttempt(
        { read: async (name) => target.objects.get(name)! },
        { requestId: 'req-1', attempt: 1, records: lines.length, sha256, parts: manifest.parts.length },
        async () => undefined,
      ),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });
});
