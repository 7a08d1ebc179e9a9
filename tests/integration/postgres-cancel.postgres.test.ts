import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSettings } from '../../adapters/postgres/options.js';
import { APPLICATION_NAME, openReadOnlySession } from '../../adapters/postgres/session.js';
import { peers } from '../peers/endpoints.js';
import { startPgWireRecorder } from '../support/pg-wire-recorder.js';
import { PgFixture } from '../support/pg-fixture.js';

let fixture: PgFixture;
beforeAll(async () => {
  fixture = await PgFixture.create('sdr_cancel', 1);
});
afterAll(async () => {
  await fixture.drop();
});

async function runningCrawlerQueries(admin: pg.Client, database: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND state = 'active'",
    [database, APPLICATION_NAME],
  );
  return rows[0]?.n ?? 0;
}

describe('cancelling a job (finding 8)', () => {
  it('stops the running query on the server at once instead of letting it run to statement_timeout', async () => {
    const settings = compileSettings({
      name: 'pg',
      type: 'postgres',
      host: peers.postgres.host,
      port: peers.postgres.port,
      database: fixture.database,
      options: { sslmode: 'disable', statementTimeoutMs: 600_000 },
      credentials: { user: fixture.user, password: fixture.password },
    });
    const controller = new AbortController();
    const session = await openReadOnlySession(settings, controller.signal);
    const admin = new pg.Client({ ...peers.postgres, database: 'postgres' });
    await admin.connect();
    try {
      const query = session.query('SELECT pg_sleep(600)').catch((error: unknown) => error);
      const deadline = Date.now() + 30_000;
      while ((await runningCrawlerQueries(admin, fixture.database)) === 0) {
        if (Date.now() > deadline) throw new Error('the query never started');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      controller.abort(new Error('cancelled by the cloud'));
      expect(await query).toMatchObject({ message: 'cancelled by the cloud' });
      // Without the cancel request the backend sleeps on for ten minutes; with it, it is gone at once.
      const gone = Date.now() + 30_000;
      while ((await runningCrawlerQueries(admin, fixture.database)) > 0) {
        if (Date.now() > gone) throw new Error('the query still runs on the server after the cancel');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await admin.end();
      await session.close();
    }
  });
});

describe('the server goes away as a query finishes (issue 13: the job stuck after a source restart)', () => {
  it('a read cut between CommandComplete and ReadyForQuery fails as a retryable source error instead of hanging', async () => {
    // pg-cursor marks its portal closed on CommandComplete and then ignores the connection's end, so the
    // read waiting for the ReadyForQuery that never comes was never settled: the crawl hung for good.
    const relay = await startPgWireRecorder(peers.postgres, { cutAfterCommandComplete: 'sdr_cut_marker' });
    const settings = compileSettings({
      name: 'pg',
      type: 'postgres',
      host: '127.0.0.1',
      port: relay.port,
      database: fixture.database,
      options: { sslmode: 'disable' },
      credentials: { user: fixture.user, password: fixture.password },
    });
    const session = await openReadOnlySession(settings, new AbortController().signal);
    try {
      const drained = (async () => {
        const rows: unknown[] = [];
        for await (const row of session.stream(
          "SELECT g, 'sdr_cut_marker' AS m FROM generate_series(1, 3) AS g",
        ))
          rows.push(row);
        return rows;
      })().catch((error: unknown) => error);
      const hung = new Promise((resolve) =>
        setTimeout(() => resolve('still waiting after 30 s'), 30_000).unref(),
      );
      const outcome = await Promise.race([drained, hung]);
      expect(outcome).toMatchObject({ code: 'SDR_ERR_PG_UNREACHABLE', retryable: true });
    } finally {
      await session.close();
      await relay.close();
    }
  });
});
