/**
 * Job isolation: each extraction runs in a worker thread of its own, so an adapter that runs out of
 * memory, throws inside a callback or exits ends only its own attempt, while others go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataRecord, SourceAdapter } from '../../adapters/index.js';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { AdapterContext, SourceConnection } from '../../adapters/types.js';
import { ResultDigest, SdrError } from '../../protocol/index.js';
import { JobAttempt } from '../../runtime/job-runner.js';
import { type SandboxSettings, sandboxed } from '../../runtime/job-sandbox.js';
import type { SerialisedChunk } from '../../runtime/serialised-records.js';
import { peers } from '../peers/endpoints.js';
import { withoutLiveSize } from '../support/fault-assertions.js';
import { createMisbehavingAdapter } from '../support/misbehaving-adapter.js';
import { PgFixture } from '../support/pg-fixture.js';
import { runnerDeps } from '../support/runner-deps.js';
import { waitFor } from '../support/wait.js';

const misbehavingModule = {
  url: new URL('../support/misbehaving-adapter.ts', import.meta.url).href,
  factory: 'createMisbehavingAdapter',
};
const settings = { maxOldSpaceMb: 64 };

let fixture: PgFixture;
let pgConnection: SourceConnection;
const misbehavingConnection: SourceConnection = {
  name: 'misbehaving',
  type: 'misbehaving',
  options: {},
  credentials: {},
};

function context(signal = new AbortController().signal) {
  const logs: { fields: Record<string, unknown>; message: string }[] = [];
  const warnings: string[] = [];
  const log = (fields: Record<string, unknown>, message: string) => logs.push({ fields, message });
  const ctx: AdapterContext = {
    signal,
    log: { debug: log, info: log, warn: log },
    warn: (m) => warnings.push(m),
  };
  return { ctx, logs, warnings };
}

async function extract<O>(
  adapter: SourceAdapter<O>,
  connection: SourceConnection,
  raw: Record<string, unknown>,
  ctx: AdapterContext = context().ctx,
): Promise<{ records: MetadataRecord[]; sha256: string }> {
  const records: MetadataRecord[] = [];
  const digest = new ResultDigest();
  for await (const record of adapter.extract(connection, adapter.parseOptions(raw, connection.name), ctx)) {
    records.push(record);
    digest.updateLine(`${JSON.stringify(record)}\n`);
  }
  return { records, sha256: digest.hex() };
}

async function failure(promise: Promise<unknown>): Promise<SdrError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SdrError);
  return error as SdrError;
}

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_sandbox', 30);
  pgConnection = {
    name: 'pg',
    type: 'postgres',
    host: peers.postgres.host,
    port: peers.postgres.port,
    database: fixture.database,
    options: { sslmode: 'disable' },
    credentials: { user: fixture.user, password: fixture.password },
  };
});
afterAll(async () => {
  await fixture?.drop();
});

describe('job isolation', () => {
  it('extracts in a worker exactly what the adapter extracts in the daemon', async () => {
    const direct = await extract(createPostgresAdapter(), pgConnection, {});
    const isolated = await extract(sandboxed(createPostgresAdapter(), settings), pgConnection, {});
    expect(isolated.records.length).toBeGreaterThan(30);
    // Every byte of every record but the database's live size must be the same.
    expect(isolated.records.map(withoutLiveSize)).toEqual(direct.records.map(withoutLiveSize));
  });

  it('hands the daemon each record as the JSON text the daemon would have made, with its UTF-8 length', async () => {
    const direct = await extract(createPostgresAdapter(), pgConnection, {});
    const isolated = sandboxed(createPostgresAdapter(), settings);
    const lines: string[] = [];
    const bytes: number[] = [];
    const options = isolated.parseOptions({}, pgConnection.name);
    for await (const chunk of isolated.extractSerialised(pgConnection, options, context().ctx)) {
      lines.push(...chunk.lines);
      bytes.push(...chunk.bytes);
    }
    expect(lines).toEqual(direct.records.map((record) => JSON.stringify(record)));
    expect(bytes).toEqual(lines.map((line) => Buffer.byteLength(line)));
  });

  it('a record without a string kind and key fails the extraction in the worker', async () => {
    const odd = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const chunks: SerialisedChunk[] = [];
    const options = odd.parseOptions({ mode: 'unkeyed', count: 300 }, 'm');
    const error = await failure(
      (async () => {
        for await (const chunk of odd.extractSerialised(misbehavingConnection, options, context().ctx))
          chunks.push(chunk);
      })(),
    );
    expect(error.code).toBe('SDR_ERR_SOURCE_FAILED');
    expect(error.message).toContain('without a string kind and key');
    // The first full chunk left the worker before the bad record; multi-byte lengths are in bytes.
    const lines = chunks.flatMap((chunk) => chunk.lines);
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(lines[0]!)).toEqual({ kind: 'test.item', key: 'misbehaving/größe ✓ 😀 0' });
    expect(chunks.flatMap((chunk) => chunk.bytes)).toEqual(lines.map((line) => Buffer.byteLength(line)));
    expect(Buffer.byteLength(lines[0]!)).toBeGreaterThan(lines[0]!.length);
  });

  it('an adapter that runs out of heap fails its own attempt while another extraction commits', async () => {
    const leaking = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const healthy = sandboxed(createPostgresAdapter(), settings);
    const [oom, other] = await Promise.all([
      failure(extract(leaking, misbehavingConnection, { mode: 'oom' })),
      extract(healthy, pgConnection, {}),
    ]);
    expect(oom.code).toBe('SDR_ERR_JOB_OUT_OF_MEMORY');
    expect(oom.message).toContain('SDR_JOB_MAX_OLD_SPACE_MB');
    expect(other.records.length).toBeGreaterThan(30);
  });

  it('an exception thrown inside a library callback fails the attempt, not the process', async () => {
    const crashing = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const error = await failure(extract(crashing, misbehavingConnection, { mode: 'callback-throw' }));
    expect(error.code).toBe('SDR_ERR_ADAPTER_CRASHED');
    expect(error.message).toContain("reading '0'");
    expect(error.retryable).toBe(true);
  });

  it('a worker that exits mid-extraction is reported as crashed', async () => {
    const exiting = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const error = await failure(extract(exiting, misbehavingConnection, { mode: 'exit' }));
    expect(error.code).toBe('SDR_ERR_ADAPTER_CRASHED');
    expect(error.message).toContain('code 3');
  });

  it('an aborted extraction ends at once even if the adapter ignores the signal', async () => {
    const controller = new AbortController();
    const stubborn = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const run = extract(
      stubborn,
      misbehavingConnection,
      { mode: 'ignore-abort' },
      context(controller.signal).ctx,
    );
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 200);
    const error = await run.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toBe('cancelled by the test');
  });

  it('the worker produces no further than the daemon consumes', async () => {
    const { ctx, logs } = context();
    const paced = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const iterable = paced.extract(
      misbehavingConnection,
      paced.parseOptions({ mode: 'records', count: 100_000 }, 'm'),
      ctx,
    );
    const iterator = iterable[Symbol.asyncIterator]();
    try {
      expect((await iterator.next()).done).toBe(false);
      const produced = () => Math.max(0, ...logs.map((line) => Number(line.fields.produced ?? 0)));
      let last = -1;
      const settled = await waitFor(
        'the worker to stop producing while nothing is consumed',
        () => {
          const now = produced();
          const done = now === last;
          last = now;
          return done ? now : undefined;
        },
        { intervalMs: 300 },
      );
      // Two chunks in flight and one being filled, of 256 records each, logged every 100.
      expect(settled).toBeLessThanOrEqual(4 * 256);
    } finally {
      await iterator.return?.(undefined);
    }
  });

  it('an adapter that stops producing is stopped as stalled, so its job is retried instead of held forever', async () => {
    // The daemon's own attempt around the sandbox, as a queued job runs; the adapter yields once, then
    // waits on something that never settles and ignores its abort signal.
    const stuck = sandboxed(createMisbehavingAdapter(), settings, misbehavingModule);
    const attempt = new JobAttempt(
      runnerDeps({ misbehaving: stuck }, { stallTimeoutMs: 1_000 }),
      { requestId: 'stalled-job', connection: 'misbehaving', options: { mode: 'ignore-abort' } },
      1,
    );
    const error = await failure(attempt.run());
    expect(error.code).toBe('SDR_ERR_SOURCE_STALLED');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('SDR_JOB_STALL_TIMEOUT_MS');
  });
});

describe('worker reuse', () => {
  /** The misbehaving adapter in workers that serve up to 100 runs and idle for a minute, unless overridden. */
  const reusingSandbox = (overrides: Partial<SandboxSettings>) =>
    sandboxed(
      createMisbehavingAdapter(),
      { ...settings, workerMaxJobs: 100, workerIdleMs: 60_000, ...overrides },
      misbehavingModule,
    );

  /** The thread a run of the misbehaving adapter ran in, and how many runs that thread has served. */
  async function identify(adapter: SourceAdapter<unknown>, retainMb = 0) {
    const { records } = await extract(adapter, misbehavingConnection, { mode: 'identify', retainMb });
    const [record] = records as unknown as { threadId: number; runsInThread: number }[];
    return { thread: record!.threadId, runs: record!.runsInThread };
  }

  it('serves up to workerMaxJobs extractions in one worker, then starts a fresh one', async () => {
    let started = 0;
    const reusing = reusingSandbox({ workerMaxJobs: 3, onWorkerStart: () => started++ });
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await identify(reusing));
    expect(runs.map((run) => run.runs)).toEqual([1, 2, 3, 1]);
    expect(new Set(runs.slice(0, 3).map((run) => run.thread)).size).toBe(1);
    expect(runs[3]!.thread).not.toBe(runs[0]!.thread);
    expect(started).toBe(2);
  });

  it('gives the job after a failed one a fresh worker', async () => {
    const reusing = reusingSandbox({});
    const first = await identify(reusing);
    const error = await failure(extract(reusing, misbehavingConnection, { mode: 'unkeyed', count: 1 }));
    expect(error.code).toBe('SDR_ERR_SOURCE_FAILED');
    const next = await identify(reusing);
    expect(next.thread).not.toBe(first.thread);
    expect(next.runs).toBe(1);
  });

  it('retires a worker whose run leaves its heap over half the cap, so a leak never reaches the next job', async () => {
    const reusing = reusingSandbox({});
    // 40 MiB kept in module state under a 64 MiB cap: another such run in the same worker would run out.
    const leaky = await identify(reusing, 40);
    const next = await identify(reusing, 40);
    expect(next.thread).not.toBe(leaky.thread);
    expect(next.runs).toBe(1);
  });

  it('ends a worker left idle for workerIdleMs', async () => {
    const reusing = reusingSandbox({ workerIdleMs: 100 });
    const first = await identify(reusing);
    // Each probe waits longer than the idle time first; a worker that never ends keeps the first thread.
    const next = await waitFor(
      'a fresh worker after the first sat idle',
      async () => {
        const run = await identify(reusing);
        return run.thread !== first.thread ? run : undefined;
      },
      { intervalMs: 400 },
    );
    expect(next.runs).toBe(1);
  });
});
