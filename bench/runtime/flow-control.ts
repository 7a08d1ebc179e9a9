/**
 * `npm run bench:runtime`: does the runtime's memory stay flat as the catalog grows and the cloud slows?
 * Runs full PostgreSQL extractions through the runtime process and the reference cloud at two catalog
 * sizes, with a fast cloud and with one that delays every ack, and reports the runtime's peak RSS.
 */
import { measureExtraction, printTable, writeResults } from '../harness.js';
import { PgFixture } from '../../tests/support/pg-fixture.js';

const sizes = (process.env.SDR_BENCH_TABLES ?? '500,4000').split(',').map(Number);
const ackDelays = [0, 20];
const rows: Record<string, string | number>[] = [];

for (const tables of sizes) {
  const fixture = await PgFixture.create('sdr_bench_rt', tables);
  try {
    for (const ackDelayMs of ackDelays) {
      const m = await measureExtraction({
        connectionsYaml: fixture.connectionYaml(),
        connection: 'pg',
        runtimeEnv: { ...fixture.secretEnv, SDR_BATCH_MAX_RECORDS: '500' },
        ackDelayMs,
      });
      rows.push({
        tables,
        'ack delay ms': ackDelayMs,
        records: m.records,
        'MB sent': m.bytes / (1024 * 1024),
        batches: m.batches,
        'wall s': m.wallSeconds,
        'objects/s': Math.round(m.objectsPerSecond),
        'runtime peak RSS MB': m.runtimePeakRssMb,
      });
    }
  } finally {
    await fixture.drop();
  }
}

printTable('runtime flow control: peak RSS by catalog size and cloud speed (credit window 8)', rows);
console.log(`\nwrote ${writeResults('runtime-flow-control', { rows })}`);
process.exit(0);
