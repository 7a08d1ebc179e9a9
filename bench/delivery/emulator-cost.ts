import { once } from 'node:events';
import { createGzip } from 'node:zlib';

/** Seconds from `started` (process.hrtime.bigint()) to `ended` (default now). */
export function seconds(started: bigint, ended = process.hrtime.bigint()): number {
  return Number(ended - started) / 1e9;
}

/**
 * Wall seconds to gzip these bodies in 256 KiB writes, the way the runtime's part writer does (level 6),
 * and the compressed size.
 */
export async function gzipChunked(
  bodies: readonly Buffer[],
  level = 6,
): Promise<{ seconds: number; bytes: number }> {
  const started = process.hrtime.bigint();
  let bytes = 0;
  for (const body of bodies) {
    const gzip = createGzip({ level });
    gzip.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    const ended = once(gzip, 'end');
    for (let at = 0; at < body.length; at += 256 * 1024) {
      if (!gzip.write(body.subarray(at, at + 256 * 1024))) await once(gzip, 'drain');
    }
    gzip.end();
    await ended;
  }
  return { seconds: seconds(started), bytes };
}
