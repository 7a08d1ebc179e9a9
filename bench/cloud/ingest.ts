/**
 * `npm run bench:cloud`: how fast the reference cloud ingests a job. A window-honouring fake runtime (a raw
 * ws client in this process) streams N records in batches and waits for the commit, for several credit
 * windows and ack delays. Needs no peer. `SDR_BENCH_RECORDS` (default 100000) and
 * `SDR_BENCH_BATCH_RECORDS` (default 500) set the sizes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createCloud } from '../../cloud/index.js';
import { type MetadataRecord, PROTOCOL_VERSION, ResultDigest, recordLine } from '../../protocol/index.js';
import { printTable, writeResults } from '../harness.js';

type Row = Record<string, number>;

function makeRecords(count: number): MetadataRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    kind: 'column',
    key: `db.public.table${Math.floor(i / 20)}.col${i % 20}`,
    parent: `db.public.table${Math.floor(i / 20)}`,
    dataType: 'character varying(255)',
    nullable: i % 3 === 0,
    ordinal: i % 20,
    comment: 'a column comment of ordinary length, as catalogs usually have',
  }));
}

async function run(
  records: MetadataRecord[],
  batchRecords: number,
  creditWindow: number,
  ackDelayMs: number,
): Promise<Row> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sdr-bench-cloud-'));
  const cloud = await createCloud({ dataDir, logger: false, creditWindow, ackDelayMs, recordFrames: false });
  try {
    const headers = { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' };
    const agent = (await (
      await fetch(`${cloud.url}/v1/agents`, { method: 'POST', headers, body: '{"name":"bench"}' })
    ).json()) as { agentId: string; token: string };
    const socket = new WebSocket(cloud.tunnelUrl, { headers: { authorization: `Bearer ${agent.token}` } });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));

    const batches: MetadataRecord[][] = [];
    for (let i = 0; i < records.length; i += batchRecords) batches.push(records.slice(i, i + batchRecords));
    const digest = new ResultDigest();
    digest.update(records);
    const sha256 = digest.hex();
    const bytes = records.reduce((sum, record) => sum + Buffer.byteLength(recordLine(record)), 0);

    let started = 0;
    const committed = new Promise<number>((resolve, reject) => {
      let requestId = '';
      let next = 0;
      let acked = 0;
      const pump = () => {
        while (next < batches.length && next - acked < creditWindow) {
          socket.send(
            JSON.stringify({ type: 'job.batch', requestId, attempt: 1, seq: next, records: batches[next] }),
          );
          next += 1;
        }
      };
      socket.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as { type: string; [key: string]: unknown };
        if (frame.type === 'job.request') {
          requestId = (frame.request as { requestId: string }).requestId;
          socket.send(JSON.stringify({ type: 'job.accepted', requestId, duplicate: false }));
          started = performance.now();
          pump();
        } else if (frame.type === 'job.ack') {
          acked += 1;
          if (acked === batches.length) {
            socket.send(
              JSON.stringify({
                type: 'job.end',
                requestId,
                attempt: 1,
                batches: batches.length,
                records: records.length,
                sha256,
                warnings: [],
              }),
            );
          } else pump();
        } else if (frame.type === 'job.committed') {
          resolve(performance.now());
        } else if (frame.type === 'job.nack' || frame.type === 'error') {
          reject(new Error(JSON.stringify(frame)));
        }
      });
    });
    socket.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        runtimeVersion: 'bench',
        capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: 4 * 1024 * 1024 },
      }),
    );
    await fetch(`${cloud.url}/v1/agents/${agent.agentId}/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ connection: 'bench' }),
    });
    const seconds = ((await committed) - started) / 1000;
    socket.close();
    const mib = bytes / 1024 / 1024;
    return {
      'credit window': creditWindow,
      'ack delay ms': ackDelayMs,
      records: records.length,
      batches: batches.length,
      MiB: mib,
      'wall s': seconds,
      'records/s': Math.round(records.length / seconds),
      'MiB/s': mib / seconds,
    };
  } finally {
    await cloud.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const recordCount = Number(process.env.SDR_BENCH_RECORDS ?? 100_000);
const batchRecords = Number(process.env.SDR_BENCH_BATCH_RECORDS ?? 500);
const records = makeRecords(recordCount);
// One unmeasured run so JIT warm-up does not land on the first row.
await run(records.slice(0, 20_000), batchRecords, 8, 0);
const rows: Row[] = [];
for (const [creditWindow, ackDelayMs] of [
  [1, 0],
  [8, 0],
  [1, 5],
  [8, 5],
  [32, 5],
] as const) {
  rows.push(await run(records, batchRecords, creditWindow, ackDelayMs));
}
printTable(`reference cloud ingest: ${recordCount} records in batches of ${batchRecords}`, rows);
console.log(`\nwrote ${writeResults('cloud-ingest', { batchRecords, node: process.version, rows })}`);
