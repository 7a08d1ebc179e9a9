import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  connect as tlsConnect,
  createServer as createTlsServer,
  type Server,
  type TLSSocket,
} from 'node:tls';
import { json, startHttpDouble, type HttpDouble } from './http-double.js';

/**
 * A local stand-in for Google Cloud SQL, enough for the real @google-cloud/cloud-sql-connector:
 *
 * - the SQL Admin API (`connectSettings`, `generateEphemeralCert`), signing each ephemeral client
 *   certificate with a throwaway CA, and the GCE metadata server's token and project endpoints
 *   (Application Default Credentials, pointed here by GCE_METADATA_HOST);
 * - the instance's server-side proxy on port 3307 (the connector has no port option): TLS 1.3 with a
 *   server certificate whose CN is `project:instance`, client certificates from the throwaway CA only,
 *   relaying the PostgreSQL protocol into the TLS PostgreSQL peer. With `upstreamClientCert` (IAM
 *   database authentication) it logs in to the peer with that certificate, as Cloud SQL vouches for an
 *   IAM principal itself.
 *
 * Public IP is 127.0.0.3, private IP 127.0.0.2, and the PSC DNS name `localhost`.
 */
export interface CloudSqlDouble {
  /** Root URL for the connector's `sqlAdminAPIEndpoint`. */
  readonly apiUrl: string;
  /** host:port for GCE_METADATA_HOST. */
  readonly metadataHost: string;
  readonly accessToken: string;
  /** SQL Admin requests, in order. */
  readonly requests: HttpDouble['requests'];
  /** Bodies of generateEphemeralCert requests. */
  readonly ephemeralRequests: { public_key?: string; access_token?: string }[];
  /** The local address each accepted 3307 connection was dialled on. */
  readonly dialled: string[];
  /** Client certificate subjects the relay verified. */
  readonly clientSubjects: string[];
  upstreamClientCert: { cert: string; key: string } | undefined;
  close(): Promise<void>;
}

export const CLOUD_SQL_PORT = 3307;
export const PUBLIC_IP = '127.0.0.3';
export const PRIVATE_IP = '127.0.0.2';
export const PSC_NAME = 'localhost';

export interface CloudSqlDoubleOptions {
  readonly project: string;
  readonly region: string;
  readonly instance: string;
  /** A scratch directory for the certificates. */
  readonly work: string;
  /** The TLS PostgreSQL peer: port and the CA that signed its certificate (for DNS:localhost). */
  readonly upstream: { port: number; ca: string };
}

function openssl(work: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: 'ignore' });
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** Opens TLS to the PostgreSQL peer the way libpq does: SSLRequest, 'S', then the handshake. */
function upstreamTls(
  port: number,
  ca: string,
  clientCert: { cert: string; key: string } | undefined,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw: Socket = netConnect(port, '127.0.0.1', () => raw.write(SSL_REQUEST));
    raw.once('error', reject);
    raw.once('data', (answer: Buffer) => {
      if (answer.toString('latin1', 0, 1) !== 'S') {
        raw.destroy();
        reject(new Error('the PostgreSQL peer refused TLS'));
        return;
      }
      const secure = tlsConnect({ socket: raw, ca, servername: 'localhost', ...clientCert }, () =>
        resolve(secure),
      );
      secure.once('error', reject);
    });
  });
}

export async function startCloudSqlDouble(options: CloudSqlDoubleOptions): Promise<CloudSqlDouble> {
  const { project, region, instance, work, upstream } = options;
  const days = ['-days', '2'];
  openssl(
    work,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=sdr test Cloud SQL server CA',
    '-keyout',
    'server-ca.key',
    '-out',
    'server-ca.pem',
    ...days,
  );
  openssl(
    work,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${project}:${instance}`,
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  openssl(
    work,
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'server-ca.pem',
    '-CAkey',
    'server-ca.key',
    '-CAcreateserial',
    '-CAserial',
    'server-ca.srl',
    '-out',
    'server.pem',
    ...days,
  );
  openssl(
    work,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=sdr test ephemeral CA',
    '-keyout',
    'client-ca.key',
    '-out',
    'client-ca.pem',
    ...days,
  );
  // openssl signs a request, not a bare key: one placeholder request, its key replaced per certificate.
  openssl(
    work,
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=placeholder',
    '-keyout',
    'placeholder.key',
    '-out',
    'placeholder.csr',
  );
  const read = (name: string): string => readFileSync(join(work, name), 'utf8');
  const serverCa = read('server-ca.pem');
  const accessToken = `ya29.sdr-test-${process.pid}`;
  const ephemeralRequests: CloudSqlDouble['ephemeralRequests'] = [];
  let issued = 0;

  const sign = (publicKeyPem: string): string => {
    issued += 1;
    const pub = `ephemeral-${issued}.pub.pem`;
    writeFileSync(
      join(work, pub),
      createPublicKey(publicKeyPem).export({ type: 'spki', format: 'pem' }).toString(),
    );
    openssl(
      work,
      'x509',
      '-req',
      '-in',
      'placeholder.csr',
      '-force_pubkey',
      pub,
      '-CA',
      'client-ca.pem',
      '-CAkey',
      'client-ca.key',
      '-CAcreateserial',
      '-CAserial',
      'client-ca.srl',
      '-subj',
      `/CN=${project}:${instance}-ephemeral-${issued}`,
      '-days',
      '1',
      '-out',
      `ephemeral-${issued}.pem`,
    );
    return read(`ephemeral-${issued}.pem`);
  };

  const instancePath = `/sql/v1beta4/projects/${project}/instances/${instance}`;
  const api = await startHttpDouble((request, body, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/computeMetadata/v1/instance/service-accounts/default/token')
      return json(
        response,
        200,
        { access_token: accessToken, expires_in: 3600, token_type: 'Bearer' },
        { 'metadata-flavor': 'Google' },
      );
    if (path === '/computeMetadata/v1/project/project-id') {
      response.writeHead(200, { 'content-type': 'text/plain', 'metadata-flavor': 'Google' });
      response.end(project);
      return;
    }
    if (path?.startsWith('/computeMetadata/')) {
      response.writeHead(200, { 'metadata-flavor': 'Google' });
      response.end('');
      return;
    }
    if (request.headers.authorization !== `Bearer ${accessToken}`)
      return json(response, 401, { error: { code: 401, message: 'no or wrong access token' } });
    if (request.method === 'GET' && path === `${instancePath}/connectSettings`)
      return json(response, 200, {
        kind: 'sql#connectSettings',
        serverCaCert: { cert: serverCa, expirationTime: new Date(Date.now() + 86_400_000).toISOString() },
        ipAddresses: [
          { type: 'PRIMARY', ipAddress: PUBLIC_IP },
          { type: 'PRIVATE', ipAddress: PRIVATE_IP },
        ],
        dnsNames: [{ name: `${PSC_NAME}.`, connectionType: 'PRIVATE_SERVICE_CONNECT', dnsScope: 'INSTANCE' }],
        pscEnabled: true,
        region,
        databaseVersion: 'POSTGRES_17',
        backendType: 'SECOND_GEN',
      });
    if (request.method === 'POST' && path === `${instancePath}:generateEphemeralCert`) {
      const parsed = JSON.parse(body) as { public_key?: string; access_token?: string };
      ephemeralRequests.push(parsed);
      if (!parsed.public_key)
        return json(response, 400, { error: { code: 400, message: 'public_key missing' } });
      return json(response, 200, { ephemeralCert: { cert: sign(parsed.public_key) } });
    }
    return json(response, 404, { error: { code: 404, message: `no ${request.method} ${path}` } });
  });

  const dialled: string[] = [];
  const clientSubjects: string[] = [];
  const sockets = new Set<Socket>();
  const relays: Server[] = [];
  const double: CloudSqlDouble = {
    apiUrl: `${api.url}/`,
    metadataHost: `127.0.0.1:${api.port}`,
    accessToken,
    requests: api.requests,
    ephemeralRequests,
    dialled,
    clientSubjects,
    upstreamClientCert: undefined,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(relays.map((relay) => new Promise<void>((resolve) => relay.close(() => resolve()))));
      await api.close();
    },
  };

  const relayOptions = {
    cert: read('server.pem'),
    key: read('server.key'),
    ca: read('client-ca.pem'),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3' as const,
  };
  const onClient = (client: TLSSocket): void => {
    sockets.add(client);
    dialled.push(client.localAddress?.replace(/^::ffff:/, '') ?? '');
    const subject = client.getPeerCertificate().subject as { CN?: string } | undefined;
    clientSubjects.push(subject?.CN ?? '');
    client.pause();
    upstreamTls(upstream.port, upstream.ca, double.upstreamClientCert).then(
      (server) => {
        sockets.add(server);
        client.pipe(server);
        server.pipe(client);
        client.resume();
        server.on('error', () => client.destroy());
        client.on('error', () => server.destroy());
        server.on('close', () => client.destroy());
        client.on('close', () => server.destroy());
      },
      () => client.destroy(),
    );
  };
  // Loopback only: public, private, and both families of `localhost` (PSC), which may resolve to ::1.
  for (const host of [PUBLIC_IP, PRIVATE_IP, '127.0.0.1', '::1']) {
    const relay = createTlsServer(relayOptions, onClient);
    try {
      await new Promise<void>((resolve, reject) => {
        relay.once('error', reject);
        relay.listen(CLOUD_SQL_PORT, host, () => resolve());
      });
      relays.push(relay);
    } catch (error) {
      // A machine without IPv6 has no ::1; the connector then dials 127.0.0.1 for `localhost`.
      if (host !== '::1') {
        await double.close();
        throw error;
      }
    }
  }
  return double;
}
