/**
 * One measured extraction, in its own process so peak RSS is the extraction's alone. Prints one JSON line:
 * wall time, peak RSS, Kafka requests sent (counted on the client library's diagnostics channel), records.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';

const bootstrap = (process.env.SDR_BENCH_KAFKA_BOOTSTRAP ?? '127.0.0.1:19292').split(',');
let requests = 0;
tracingChannel('plt:kafka:connections:api').subscribe({
  start: () => void requests++,
  end: () => undefined,
  asyncStart: () => undefined,
  asyncEnd: () => undefined,
  error: () => undefined,
});

const adapter = createKafkaAdapter();
const connection = {
  name: 'bench-kafka',
  type: 'kafka',
  options: { bootstrapServers: bootstrap, securityProtocol: 'PLAINTEXT', allowPlaintext: true },
  credentials: {},
};
const warnings: string[] = [];
const context = {
  signal: new AbortController().signal,
  log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
  warn: (message: string) => void warnings.push(message),
};
const started = performance.now();
const counts: Record<string, number> = {};
let bytes = 0;
for await (const record of adapter.extract(connection, adapter.parseOptions({}, connection.name), context)) {
  counts[record.kind] = (counts[record.kind] ?? 0) + 1;
  // What the runtime would do with each record: serialise it for a batch.
  bytes += JSON.stringify(record).length;
}
const seconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({
    mode: 'adapter',
    seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    requests,
    records: counts,
    recordBytes: bytes,
    warnings: warnings.length,
  }),
);
