import { Codes, SdrError } from '../../protocol/index.js';
import { raceAbort } from '../shared/index.js';
import type { PostgresSettings } from './options.js';
import type { SessionTransport } from './session.js';

/** Where and how to reach a Google Cloud SQL for PostgreSQL instance through the Cloud SQL connector. */
export interface CloudSqlSettings {
  /** `project:region:instance` (or `domain:project:region:instance`). */
  readonly instanceConnectionName: string;
  readonly ipType: 'public' | 'private' | 'psc';
  /** `iam`: IAM database authentication (no password; the user is the IAM principal). */
  readonly auth: 'password' | 'iam';
  /** Root URL of the Cloud SQL Admin API; absent: https://sqladmin.googleapis.com/. */
  readonly sqlAdminApiEndpoint?: string;
  /** Service-account key JSON from a secret; absent: Application Default Credentials. */
  readonly googleCredentials?: string;
}

/** A transport and its release, for one adapter call. */
export interface OpenedTransport {
  readonly transport?: SessionTransport;
  release(): Promise<void>;
}

const ipTypes = { public: 'PUBLIC', private: 'PRIVATE', psc: 'PSC' } as const;

function describe(error: unknown, instance: string): string {
  const err = error as { code?: unknown; message?: unknown };
  const message = typeof err.message === 'string' ? err.message : String(error);
  const code = typeof err.code === 'string' ? err.code : '';
  if (/default credentials/i.test(message))
    return `no Google credentials found for Cloud SQL instance ${instance}: set GOOGLE_APPLICATION_CREDENTIALS, run the runtime with a Google service account (GKE workload identity, GCE), or give the connection a googleCredentials secret`;
  if (
    code === 'ENOPUBLICSQLADMINIPADDRESS' ||
    code === 'ENOPRIVATESQLADMINIPADDRESS' ||
    code === 'ENOPSCSQLADMINIPADDRESS'
  )
    return `Cloud SQL instance ${instance} has no address of the requested IP type (${message}); change cloudSql.ipType`;
  if (/403|permission|forbidden/i.test(message))
    return `Google denied access to Cloud SQL instance ${instance} (${message}); grant the runtime's service account roles/cloudsql.client (and roles/cloudsql.instanceUser for IAM authentication)`;
  if (/404|not found/i.test(message))
    return `Cloud SQL instance ${instance} was not found (${message}); check cloudSql.instanceConnectionName`;
  return `Cloud SQL connector failed for instance ${instance}: ${message}${code ? ` (${code})` : ''}`;
}

/**
 * Opens the Cloud SQL connector for one adapter call: it fetches the instance's address and an
 * ephemeral client certificate from the Cloud SQL Admin API and hands `pg` a ready TLS socket.
 * The connector library is loaded only when a connection uses Cloud SQL.
 */
export async function openCloudSqlTransport(
  settings: PostgresSettings,
  cloudSql: CloudSqlSettings,
  signal: AbortSignal,
): Promise<OpenedTransport> {
  const [{ Connector, IpAddressTypes, AuthTypes }, { GoogleAuth }] = await Promise.all([
    import('@google-cloud/cloud-sql-connector'),
    import('google-auth-library'),
  ]);
  let credentials: Record<string, unknown> | undefined;
  if (cloudSql.googleCredentials !== undefined) {
    try {
      credentials = JSON.parse(cloudSql.googleCredentials) as Record<string, unknown>;
    } catch {
      // Never quote the secret: say only what is wrong with it.
      throw new Codes.SDR_ERR_PG_CONFIG(
        settings.connection,
        'the googleCredentials secret is not a JSON key file',
      );
    }
  }
  const connector = new Connector({
    ...(credentials && {
      auth: new GoogleAuth({ credentials, scopes: ['https://www.googleapis.com/auth/sqlservice.admin'] }),
    }),
    ...(cloudSql.sqlAdminApiEndpoint !== undefined && { sqlAdminAPIEndpoint: cloudSql.sqlAdminApiEndpoint }),
  });
  const pending = connector.getOptions({
    instanceConnectionName: cloudSql.instanceConnectionName,
    ipType: IpAddressTypes[ipTypes[cloudSql.ipType]],
    authType: cloudSql.auth === 'iam' ? AuthTypes.IAM : AuthTypes.PASSWORD,
  });
  try {
    const options = await raceAbort(pending, signal);
    return {
      transport: { stream: options.stream },
      release: async () => connector.close(),
    };
  } catch (error) {
    // No connector.close() here: after a failed first refresh there is nothing to release, and
    // close() would derive an unhandled rejection from the failed instance promise (connector 1.13).
    if (signal.aborted) {
      // Once the connector finishes, release what it set up (refresh timers) for nobody.
      pending.then(
        () => connector.close(),
        () => undefined,
      );
      throw error;
    }
    if (error instanceof SdrError) throw error;
    throw new Codes.SDR_ERR_PG_CLOUDSQL(describe(error, cloudSql.instanceConnectionName), { cause: error });
  }
}
