/**
 * The contract every source adapter keeps, run against each adapter's real peer (like
 * secret-provider-conformance.ts): read-only by the peer's own evidence, paced by its consumer, prompt to
 * stop on abort without leaving a session or socket open, strict about options, and silent about
 * credentials in every record, warning, log line and error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AdapterContext,
  MetadataRecord,
  SourceAdapter,
  SourceConnection,
} from '../../adapters/types.js';
import { SdrError } from '../../protocol/index.js';
import { findCanary } from './canary.js';
import { waitFor } from './wait.js';

/** What the peer saw the adapter do: operations by name, so reads and writes can be told apart. */
export interface PeerEvidence {
  /** Operations the peer received since the last `reset`, in order (SQL text, Kafka API, AWS action). */
  operations(): readonly string[];
  reset(): void;
}

/** One adapter's fixture on its peer, made by the harness. */
export interface AdapterFixture {
  connection: SourceConnection;
  /** Valid options selecting a catalog larger than the adapter's first page. */
  options: Record<string, unknown>;
  /** Every credential value of `connection`; none may appear in any output. */
  secrets: readonly string[];
  evidence: PeerEvidence;
  /** True for an operation that only reads. */
  isRead(operation: string): boolean;
  /** Sessions or sockets the adapter still holds on the peer; 0 once it has let go. */
  openSessions(): Promise<number>;
  /** The same connection with a wrong password (or key), which the peer refuses. */
  badCredentials: SourceConnection;
  /** The secret values of `badCredentials` (not user names, which an error may rightly name). */
  badSecrets: readonly string[];
}

/** One adapter under test. */
export interface AdapterConformanceHarness {
  name: string;
  adapter(): SourceAdapter<unknown>;
  setup(): Promise<AdapterFixture>;
  teardown?(): Promise<void>;
}

/** Everything one run produced. */
interface Captured {
  records: MetadataRecord[];
  warnings: string[];
  logs: string[];
  error?: unknown;
}

function capturingContext(signal: AbortSignal, sink: Captured): AdapterContext {
  const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
    sink.logs.push(`${level} ${message} ${JSON.stringify(fields)}`);
  return {
    signal,
    log: { debug: log('debug'), info: log('info'), warn: log('warn') },
    warn: (message) => sink.warnings.push(message),
  };
}

async function extractAll(
  adapter: SourceAdapter<unknown>,
  connection: SourceConnection,
  rawOptions: Record<string, unknown>,
): Promise<Captured> {
  const sink: Captured = { records: [], warnings: [], logs: [] };
  const context = capturingContext(new AbortController().signal, sink);
  try {
    const options = adapter.parseOptions(rawOptions, connection.name);
    for await (const record of adapter.extract(connection, options, context)) sink.records.push(record);
  } catch (error) {
    sink.error = error;
  }
  return sink;
}

/** Runs the shared contract for one adapter. */
export function adapterConformance(harness: AdapterConformanceHarness): void {
  describe(`source adapter conformance: ${harness.name}`, () => {
    const adapter = harness.adapter();
    let fixture: AdapterFixture;

    beforeAll(async () => {
      fixture = await harness.setup();
    });
    afterAll(async () => {
      await harness.teardown?.();
    });

    function expectNoSecret(where: string, value: unknown): void {
      for (const secret of fixture.secrets) {
        expect(findCanary(value, secret), `a credential appeared in ${where}`).toBeUndefined();
      }
    }

    it('extracts a catalog of unique keys, using only reads the peer can attest', async () => {
      fixture.evidence.reset();
      const run = await extractAll(adapter, fixture.connection, fixture.options);
      expect(run.error, String(run.error)).toBeUndefined();
      expect(run.records.length).toBeGreaterThan(0);
      const keys = run.records.map((record) => record.key);
      expect(new Set(keys).size, 'record keys are unique').toBe(keys.length);
      for (const record of run.records)
        expect(record.kind, JSON.stringify(record)).toMatch(/^[a-z][a-z_.]*$/);
      const operations = fixture.evidence.operations();
      expect(operations.length, 'the peer saw the adapter').toBeGreaterThan(0);
      const writes = operations.filter((operation) => !fixture.isRead(operation));
      expect(writes, 'operations that are not reads').toEqual([]);
      expectNoSecret('records', run.records);
      expectNoSecret('warnings', run.warnings);
      expectNoSecret('log lines', run.logs);
    });

    it('reads at its consumer’s pace: a paused consumer stops the reads', async () => {
      fixture.evidence.reset();
      const sink: Captured = { records: [], warnings: [], logs: [] };
      const controller = new AbortController();
      const options = adapter.parseOptions(fixture.options, fixture.connection.name);
      const iterable = adapter.extract(
        fixture.connection,
        options,
        capturingContext(controller.signal, sink),
      );
      const iterator = iterable[Symbol.asyncIterator]();
      try {
        const first = await iterator.next();
        expect(first.done).toBe(false);
        // Settled: the read count stops moving while nobody pulls.
        let last = -1;
        const atPause = await waitFor(
          'the adapter to stop reading while its consumer is paused',
          () => {
            const now = fixture.evidence.operations().length;
            const settled = now === last;
            last = now;
            return settled ? now : undefined;
          },
          { intervalMs: 750 },
        );
        fixture.evidence.reset();
        const full = await extractAll(adapter, fixture.connection, fixture.options);
        expect(full.error).toBeUndefined();
        const whole = fixture.evidence.operations().length;
        expect(
          atPause,
          `reads before the first record was consumed (${atPause}) vs a whole run (${whole})`,
        ).toBeLessThan(whole);
      } finally {
        controller.abort(new Error('test over'));
        await iterator.return?.().catch(() => undefined);
      }
    });

    it('stops within 2 s of abort and leaves no session open', async () => {
      const sink: Captured = { records: [], warnings: [], logs: [] };
      const controller = new AbortController();
      const options = adapter.parseOptions(fixture.options, fixture.connection.name);
      const iterable = adapter.extract(
        fixture.connection,
        options,
        capturingContext(controller.signal, sink),
      );
      const consumed = (async () => {
        for await (const record of iterable) {
          sink.records.push(record);
          if (sink.records.length === 1) controller.abort(new Error('cancelled by the test'));
        }
      })().then(
        () => 'ended' as const,
        () => 'threw' as const,
      );
      const outcome = await Promise.race([
        consumed,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 2_000).unref()),
      ]);
      expect(outcome, 'extract after abort').not.toBe('still running');
      await waitFor('the adapter’s sessions on the peer to close', async () =>
        (await fixture.openSessions()) === 0 ? true : undefined,
      );
    });

    it('refuses unknown options with SDR_ERR_INVALID_OPTIONS naming the option', () => {
      const error = (() => {
        try {
          adapter.parseOptions({ ...fixture.options, sdrNoSuchOption: true }, fixture.connection.name);
          return undefined;
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(SdrError);
      expect((error as SdrError).code).toBe('SDR_ERR_INVALID_OPTIONS');
      expect((error as SdrError).message).toContain('sdrNoSuchOption');
    });

    it('fails on refused credentials with a catalogued, non-retryable error that carries no credential', async () => {
      const run = await extractAll(adapter, fixture.badCredentials, fixture.options);
      expect(run.error).toBeInstanceOf(SdrError);
      const error = run.error as SdrError;
      expect(error.retryable, `${error.code}: ${error.message}`).toBe(false);
      expectNoSecret('the error', error);
      for (const secret of fixture.badSecrets) {
        expect(findCanary(error, secret), 'the wrong credential appeared in the error').toBeUndefined();
      }
      expectNoSecret('log lines', run.logs);
      await waitFor('the failed attempt’s sessions to close', async () =>
        (await fixture.openSessions()) === 0 ? true : undefined,
      );
    });
  });
}
