import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { peers } from '../peers/endpoints.js';

/** A PostgreSQL server and its superuser. */
export type PgServer = typeof peers.postgres;

/**
 * A throwaway database on the test PostgreSQL (or on `server`), with `tables` tables of four columns each in schema `app`,
 * and its own login role with a random password (the crawler's, distinct from every catalog name).
 */
export class PgFixture {
  private constructor(
    readonly database: string,
    readonly user: string,
    readonly password: string,
    readonly server: PgServer = peers.postgres,
  ) {}

  static async create(prefix: string, tables: number, server: PgServer = peers.postgres): Promise<PgFixture> {
    const suffix = randomBytes(4).toString('hex');
    const database = `${prefix}_${suffix}`;
    const user = `${prefix}_crawler_${suffix}`;
    const password = `pw-${randomBytes(12).toString('base64url')}`;
    await PgFixture.admin(server, async (client) => {
      await client.query(`CREATE DATABASE ${database}`);
      await client.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
      await client.query(`GRANT CONNECT ON DATABASE ${database} TO ${user}`);
    });
    const fixture = new PgFixture(database, user, password, server);
    await fixture.query(async (client) => {
      const statements = ['CREATE SCHEMA app'];
      for (let i = 0; i < tables; i++) {
        statements.push(
          `CREATE TABLE app.t${i} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) DEFAULT 0, note text)`,
          `COMMENT ON TABLE app.t${i} IS 'table number ${i}'`,
        );
      }
      statements.push('CREATE VIEW app.v_first AS SELECT id, name FROM app.t0');
      statements.push(`GRANT USAGE ON SCHEMA app TO ${fixture.user}`);
      await client.query(statements.join(';\n'));
      // At rest before any job: otherwise autovacuum can grow the new database's catalogs mid-run, and
      // the crawl truthfully reports a different sizeBytes to later jobs than to earlier ones.
      await client.query('VACUUM ANALYZE');
    });
    // VACUUM removed the database's relcache init file, and the next backends to start rebuild it through a
    // temp file that pg_database_size counts: 12 connections at once saw 2 to 5 sizes (+162 kB each) in 6
    // of 8 tries, and none after one connection rebuilt it alone.
    await fixture.query((client) => client.query('SELECT 1'));
    return fixture;
  }

  /** The connections-file entry for this database; the password comes from env://SDR_TEST_PG_PASSWORD. */
  connectionYaml(name = 'pg'): string {
    return [
      'connections:',
      `  - name: ${name}`,
      '    type: postgres',
      `    host: ${this.server.host}`,
      `    port: ${this.server.port}`,
      `    database: ${this.database}`,
      '    secrets: { user: env://SDR_TEST_PG_USER, password: env://SDR_TEST_PG_PASSWORD }',
      '    options: { sslmode: disable }',
      '',
    ].join('\n');
  }

  /** Environment the runtime needs to resolve this connection's secrets. */
  get secretEnv(): Record<string, string> {
    return { SDR_TEST_PG_USER: this.user, SDR_TEST_PG_PASSWORD: this.password };
  }

  async query<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...this.server, database: this.database });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  async drop(): Promise<void> {
    await PgFixture.admin(this.server, async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
      // Its privileges went with the database, so the role can go too; otherwise every run leaves one.
      await client.query(`DROP ROLE IF EXISTS ${this.user}`);
    });
  }

  private static async admin<T>(server: PgServer, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...server, database: 'postgres' });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}
