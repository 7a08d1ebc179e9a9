/**
 * Runs one extraction through the postgres adapter in its own process and prints one JSON line:
 * records, records by kind, wall time, serialised bytes and this process's peak RSS.
 * Each record is JSON-serialised, as the runtime must do before sending it.
 *
 *   tsx bench/postgres/extract-child.ts <database>
 */
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import { benchServer } from './generate.js';

const database = process.argv[2];
if (!database) throw new Error('usage: extract-child.ts <database>');
const adapter = createPostgresAdapter();
const connection = {
  name: 'bench',
  type: 'postgres',
  host: benchServer.host,
  port: benchServer.port,
  database,
  options: {},
  credentials: { user: benchServer.user, password: benchServer.password },
};
const context = {
  signal: new AbortController().signal,
  log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
  warn: (message: string) => console.error(`warning: ${message}`),
};
const byKind: Record<string, number> = {};
let records = 0;
let bytes = 0;
let peakHeap = 0;
const started = performance.now();
for await (const record of adapter.extract(connection, adapter.parseOptions({}, 'bench'), context)) {
  records += 1;
  bytes += JSON.stringify(record).length + 1;
  byKind[record.kind] = (byKind[record.kind] ?? 0) + 1;
  if (records % 10_000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}
const wallMs = performance.now() - started;
console.log(
  JSON.stringify({
    records,
    byKind,
    bytes,
    wallMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: peakHeap / 1024 / 1024,
  }),
);
