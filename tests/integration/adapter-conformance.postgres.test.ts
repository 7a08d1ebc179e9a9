import pg from 'pg';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { SourceConnection } from '../../adapters/types.js';
import { peers } from '../peers/endpoints.js';
import { adapterConformance } from '../support/adapter-conformance.js';
import { PgFixture } from '../support/pg-fixture.js';
import {
  isReadOnlyStatement,
  type PgWireRecorder,
  startPgWireRecorder,
} from '../support/pg-wire-recorder.js';

let fixture: PgFixture | undefined;
let recorder: PgWireRecorder | undefined;

adapterConformance({
  name: 'postgres',
  adapter: createPostgresAdapter,
  async setup() {
    // More relations than one page of the adapter's relation query, so pacing is observable.
    fixture = await PgFixture.create('sdr_conf', 450);
    recorder = await startPgWireRecorder(peers.postgres);
    const db = fixture;
    const wire = recorder;
    const connection = (password: string): SourceConnection => ({
      name: 'pg-conformance',
      type: 'postgres',
      host: '127.0.0.1',
      port: wire.port,
      database: db.database,
      options: { sslmode: 'disable' },
      credentials: { user: db.user, password },
    });
    return {
      connection: connection(db.password),
      badCredentials: connection(`${db.password}-wrong`),
      badSecrets: [`${db.password}-wrong`],
      options: {},
      secrets: [db.password],
      evidence: {
        operations: () => wire.statements,
        reset: () => {
          wire.statements.length = 0;
        },
      },
      isRead: isReadOnlyStatement,
      async openSessions() {
        const admin = new pg.Client({ ...peers.postgres, database: 'postgres' });
        await admin.connect();
        try {
          const { rows } = await admin.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
            [db.user],
          );
          return rows[0]?.n ?? 0;
        } finally {
          await admin.end();
        }
      },
    };
  },
  async teardown() {
    await recorder?.close();
    await fixture?.drop();
  },
});
