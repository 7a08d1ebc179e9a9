/**
 * A TCP relay in front of the PostgreSQL peer that records every statement the server receives (simple
 * `Query` and extended-protocol `Parse` messages): the peer's own view of what a client asked, which is
 * the evidence a read-only claim needs. Plaintext connections only (sslmode disable).
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** The running relay. */
export interface PgWireRecorder {
  readonly port: number;
  /** Statement texts in arrival order. */
  readonly statements: string[];
  /** Execute messages: one per page a cursor reads. */
  executes: number;
  close(): Promise<void>;
}

/** Splits the client's byte stream into messages and records statements; forwards bytes unchanged. */
function recordFrontend(
  statements: string[],
  onExecute: () => void,
  onParse: (sql: string) => void = () => undefined,
): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let startup = true;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (startup) {
        if (pending.length < 8) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const code = pending.readInt32BE(4);
        pending = pending.subarray(length);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        continue;
      }
      if (pending.length < 5) return;
      const type = String.fromCharCode(pending[0] as number);
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) return;
      const body = pending.subarray(5, 1 + length);
      pending = pending.subarray(1 + length);
      if (type === 'Q') statements.push(body.toString('utf8').replace(/\0$/, ''));
      if (type === 'P') {
        const nameEnd = body.indexOf(0);
        const queryEnd = body.indexOf(0, nameEnd + 1);
        const sql = body.subarray(nameEnd + 1, queryEnd).toString('utf8');
        statements.push(sql);
        onParse(sql);
      }
      if (type === 'E') onExecute();
    }
  };
}

/** Splits the server's byte stream into whole messages (all typed: no SSL with sslmode disable). */
function splitBackend(onMessage: (type: string, message: Buffer) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const end = 1 + pending.readInt32BE(1);
      if (pending.length < end) return;
      const message = pending.subarray(0, end);
      pending = pending.subarray(end);
      onMessage(String.fromCharCode(message[0] as number), message);
    }
  };
}

/**
 * Starts a relay on a free loopback port in front of `target`. With `cutAfterCommandComplete`, the first
 * statement parsed that contains that text has its server connection cut right after its CommandComplete,
 * before the ReadyForQuery that follows: the moment a server restart can hit a finishing query.
 */
export async function startPgWireRecorder(
  target: { host: string; port: number },
  options: { cutAfterCommandComplete?: string } = {},
): Promise<PgWireRecorder> {
  const sockets = new Set<Socket>();
  const recorder: PgWireRecorder = {
    port: 0,
    statements: [],
    executes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let armed = false;
    const record = recordFrontend(
      recorder.statements,
      () => {
        recorder.executes += 1;
      },
      (sql) => {
        if (options.cutAfterCommandComplete && sql.includes(options.cutAfterCommandComplete)) armed = true;
      },
    );
    client.on('data', (chunk: Buffer) => {
      record(chunk);
      upstream.write(chunk);
    });
    if (options.cutAfterCommandComplete) {
      let cut = false;
      const relay = splitBackend((type, message) => {
        if (cut) return;
        if (armed && type === 'C') {
          cut = true;
          upstream.destroy();
          client.end(message);
          return;
        }
        client.write(message);
      });
      upstream.on('data', relay);
    } else {
      upstream.pipe(client);
    }
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (recorder as { port: number }).port = (server.address() as AddressInfo).port;
  return recorder;
}

const READ_STATEMENT =
  /^(select|with|show|set|reset|begin|start transaction|commit|rollback|savepoint|release|fetch|close|discard)\b/i;
const WRITE_WORD =
  /\b(insert|update|delete|merge|truncate|create|alter|drop|grant|revoke|copy|vacuum|lock)\b/i;

/** True for a statement that can only read: a query, a transaction or session command, nothing that writes. */
export function isReadOnlyStatement(sql: string): boolean {
  const text = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''")
    .trim();
  if (text === '') return true;
  if (!READ_STATEMENT.test(text)) return false;
  // `SET` and transaction commands name no table; a query may, but it must not modify one.
  return !/^(select|with)\b/i.test(text) || !WRITE_WORD.test(text.replace(/"(?:[^"]|"")*"/g, '""'));
}
