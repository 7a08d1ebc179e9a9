/**
 * Runs one SageMaker extraction through the adapter in its own process (so its peak RSS is the
 * adapter's alone) and prints one JSON line: records by kind, wall time, bytes, peak RSS and the
 * adapter's own request counts.
 *
 *   tsx bench/sagemaker/extract-child.ts '<connection options JSON>' '<extraction options JSON>'
 */
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';

const [optionsJson, extractJson] = process.argv.slice(2);
if (!optionsJson)
  throw new Error("usage: extract-child.ts '<connection options JSON>' ['<extraction options JSON>']");
const adapter = createSagemakerAdapter();
const connection = {
  name: 'bench',
  type: 'sagemaker',
  options: JSON.parse(optionsJson) as Record<string, unknown>,
  credentials: {
    accessKeyId: process.env.SDR_BENCH_AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.SDR_BENCH_AWS_SECRET_ACCESS_KEY ?? '',
  },
};
let finished: Record<string, unknown> = {};
const context = {
  signal: new AbortController().signal,
  log: {
    debug: () => undefined,
    info: (fields: Record<string, unknown>, message: string) => {
      if (message === 'sagemaker extraction finished') finished = fields;
    },
    warn: () => undefined,
  },
  warn: (message: string) => console.error(`warning: ${message}`),
};
const byKind: Record<string, number> = {};
let records = 0;
let bytes = 0;
const started = performance.now();
const options = adapter.parseOptions(JSON.parse(extractJson ?? '{}') as Record<string, unknown>, 'bench');
for await (const record of adapter.extract(connection, options, context)) {
  records += 1;
  bytes += JSON.stringify(record).length + 1;
  byKind[record.kind] = (byKind[record.kind] ?? 0) + 1;
}
const wallMs = performance.now() - started;
console.log(
  JSON.stringify({
    records,
    byKind,
    bytes,
    wallMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    requests: finished.requests,
    byOperation: finished.byOperation,
    throttled: finished.throttled,
  }),
);
