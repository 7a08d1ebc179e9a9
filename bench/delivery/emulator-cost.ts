import { once } from 'node:events';
import { createGzip } from 'node:zlib';

/** Seconds from `started` (process.hrtime.bigint()) to `ended` (default now). */
export function seconds(started: bigint, ended = process.hrtime.bigint()): number {
  return Number(ended - started) / 1e9;
}

/** Wall seconds to gzip these bodies (level 6, 256 KiB writes) the way the runtime's part writer does. */
export async function gzipChunked(bodies: readonly Buffer[]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const body of bodies) {
    const gzip = createGzip({ level: 6 });
    gzip.on('data', () => undefined);
    const ended = once(gzip, 'end');
    for (let at = 0; at < body.length; at += 256 * 1024) {
      if (!gzip.write(body.subarray(at, at + 256 * 1024))) await once(gzip, 'drain');
    }
    gzip.end();
    await ended;
  }
  return seconds(started);
}
