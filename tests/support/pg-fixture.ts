import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { peers } from '../peers/endpoints.js';

/** A throwaway database on the test PostgreSQL, with `tables` tables of four columns each in schema `app`. */
export class PgFixture {
  private constructor(readonly database: string) {}

  static async create(prefix: string, tables: number): Promise<PgFixture> {
    const database = `${prefix}_${randomBytes(4).toString('hex')}`;
    await PgFixture.admin(async (client) => client.query(`CREATE DATABASE ${database}`));
    const fixture = new PgFixture(database);
    await fixture.query(async (client) => {
      const statements = ['CREATE SCHEMA app'];
      for (let i = 0; i < tables; i++) {
        statements.push(
          `CREATE TABLE app.t${i} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) DEFAULT 0, note text)`,
          `COMMENT ON TABLE app.t${i} IS 'table number ${i}'`,
        );
      }
      statements.push('CREATE VIEW app.v_first AS SELECT id, name FROM app.t0');
      await client.query(statements.join(';\n'));
    });
    return fixture;
  }

  /** The connections-file entry for this database; the password comes from env://SDR_TEST_PG_PASSWORD. */
  connectionYaml(name = 'pg'): string {
    return [
      'connections:',
      `  - name: ${name}`,
      '    type: postgres',
      `    host: ${peers.postgres.host}`,
      `    port: ${peers.postgres.port}`,
      `    database: ${this.database}`,
      '    secrets: { user: env://SDR_TEST_PG_USER, password: env://SDR_TEST_PG_PASSWORD }',
      '    options: { sslmode: disable }',
      '',
    ].join('\n');
  }

  /** Environment the runtime needs to resolve this connection's secrets. */
  get secretEnv(): Record<string, string> {
    return { SDR_TEST_PG_USER: peers.postgres.user, SDR_TEST_PG_PASSWORD: peers.postgres.password };
  }

  async query<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...peers.postgres, database: this.database });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  async drop(): Promise<void> {
    await PgFixture.admin(async (client) =>
      client.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`),
    );
  }

  private static async admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...peers.postgres, database: 'postgres' });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}
