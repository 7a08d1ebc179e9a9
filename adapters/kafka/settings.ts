import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import { describeIssues } from '../shared/index.js';
import type { SourceConnection } from '../types.js';

/** Security protocols a Kafka connection may name; the plaintext ones need `allowPlaintext: true`. */
export const securityProtocols = ['SASL_SSL', 'SSL', 'SASL_PLAINTEXT', 'PLAINTEXT'] as const;
/** SASL mechanisms the adapter speaks (GSSAPI/Kerberos is not supported). */
export const saslMechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;

/** Default number of Kafka metadata requests (and Schema Registry calls) in flight per job. */
export const DEFAULT_MAX_IN_FLIGHT = 5;

const schemaRegistrySchema = z
  .object({
    url: z.url(),
    /** Servername for TLS when the URL's host differs from the certificate's. */
    tlsServerName: z.string().min(1).optional(),
  })
  .strict();

const connectionOptionsSchema = z
  .object({
    bootstrapServers: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]).optional(),
    securityProtocol: z.enum(securityProtocols).default('SASL_SSL'),
    saslMechanism: z.enum(saslMechanisms).optional(),
    allowPlaintext: z.boolean().default(false),
    tlsServerName: z.string().min(1).optional(),
    clientId: z.string().min(1).max(200).default('sdr-metadata-crawler'),
    maxInFlight: z.number().int().min(1).max(64).default(DEFAULT_MAX_IN_FLIGHT),
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    schemaRegistry: schemaRegistrySchema.optional(),
  })
  .strict();

/** Schema Registry settings with their credentials resolved. */
export interface SchemaRegistrySettings {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly tlsServerName?: string;
}

/** Everything needed to open the admin client, compiled once per job from a `SourceConnection`. */
export interface KafkaSettings {
  readonly connection: string;
  readonly bootstrapServers: string[];
  readonly securityProtocol: (typeof securityProtocols)[number];
  readonly saslMechanism?: (typeof saslMechanisms)[number];
  /** `SASL_SSL/SCRAM-SHA-512`, `SSL/mTLS`, ...: safe to show, contains no secret. */
  readonly authType: string;
  readonly clientId: string;
  readonly maxInFlight: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly tls?: TlsOptions;
  readonly sasl?: {
    mechanism: (typeof saslMechanisms)[number];
    username?: string;
    password?: string;
    token?: string;
  };
  readonly schemaRegistry?: SchemaRegistrySettings;
}

/**
 * Compiles a connection from the connections file into client settings; throws
 * `SDR_ERR_KAFKA_CONNECTION_INVALID` for a missing or unsafe setting. Never echoes a credential.
 */
export function compileKafkaSettings(connection: SourceConnection): KafkaSettings {
  const invalid = (problem: string) => new Codes.SDR_ERR_KAFKA_CONNECTION_INVALID(connection.name, problem);
  const parsed = connectionOptionsSchema.safeParse(connection.options);
  if (!parsed.success) {
    throw invalid(describeIssues(parsed.error, 'options'));
  }
  const options = parsed.data;
  const credentials = connection.credentials;

  let bootstrapServers: string[];
  if (options.bootstrapServers !== undefined) {
    bootstrapServers = (
      typeof options.bootstrapServers === 'string'
        ? options.bootstrapServers.split(',')
        : options.bootstrapServers
    )
      .map((server) => server.trim())
      .filter((server) => server !== '');
  } else if (connection.host) {
    bootstrapServers = [`${connection.host}:${connection.port ?? 9092}`];
  } else {
    throw invalid('set host/port or options.bootstrapServers');
  }
  for (const server of bootstrapServers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(server) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(server)) {
      throw invalid(`bootstrap server "${server}" is not host:port`);
    }
  }

  const protocol = options.securityProtocol;
  const usesTls = protocol === 'SASL_SSL' || protocol === 'SSL';
  const usesSasl = protocol === 'SASL_SSL' || protocol === 'SASL_PLAINTEXT';
  if (!usesTls && !options.allowPlaintext) {
    throw invalid(
      `securityProtocol ${protocol} sends metadata (and SASL credentials) unencrypted; set allowPlaintext: true to allow it`,
    );
  }

  let sasl: KafkaSettings['sasl'];
  let authType: string = protocol;
  if (usesSasl) {
    const mechanism = options.saslMechanism ?? 'PLAIN';
    if (mechanism === 'OAUTHBEARER') {
      if (!credentials.oauthToken) throw invalid('SASL OAUTHBEARER needs an oauthToken credential');
      sasl = { mechanism, token: credentials.oauthToken };
    } else {
      const username = credentials.username || credentials.apiKey;
      const password = credentials.password || credentials.apiSecret;
      if (!username || !password) {
        throw invalid(`SASL ${mechanism} needs username and password (or apiKey and apiSecret) credentials`);
      }
      sasl = { mechanism, username, password };
    }
    authType = `${protocol}/${mechanism}`;
  } else if (options.saslMechanism) {
    throw invalid(`saslMechanism is set but securityProtocol ${protocol} does not use SASL`);
  }

  let tls: TlsOptions | undefined;
  if (usesTls) {
    if (Boolean(credentials.tlsCert) !== Boolean(credentials.tlsKey)) {
      throw invalid('mTLS needs both tlsCert and tlsKey credentials');
    }
    tls = {
      ...(credentials.tlsCa ? { ca: credentials.tlsCa } : {}),
      ...(credentials.tlsCert ? { cert: credentials.tlsCert, key: credentials.tlsKey } : {}),
      ...(options.tlsServerName ? { servername: options.tlsServerName } : {}),
      rejectUnauthorized: true,
    };
    if (protocol === 'SSL') authType = credentials.tlsCert ? 'SSL/mTLS' : 'SSL';
  }

  let schemaRegistry: SchemaRegistrySettings | undefined;
  if (options.schemaRegistry) {
    const url = options.schemaRegistry.url.replace(/\/+$/, '');
    if (url.startsWith('http:') && !options.allowPlaintext) {
      throw invalid('schemaRegistry.url is http://; use https:// or set allowPlaintext: true');
    }
    const username = credentials.schemaRegistryKey;
    const password = credentials.schemaRegistrySecret;
    if (Boolean(username) !== Boolean(password)) {
      throw invalid('Schema Registry basic auth needs both schemaRegistryKey and schemaRegistrySecret');
    }
    const ca = credentials.schemaRegistryCa ?? credentials.tlsCa;
    schemaRegistry = {
      url,
      ...(username ? { username, password } : {}),
      ...(ca ? { ca } : {}),
      ...(credentials.schemaRegistryCert && credentials.schemaRegistryKeyPem
        ? { cert: credentials.schemaRegistryCert, key: credentials.schemaRegistryKeyPem }
        : {}),
      ...(options.schemaRegistry.tlsServerName
        ? { tlsServerName: options.schemaRegistry.tlsServerName }
        : {}),
    };
  }

  return {
    connection: connection.name,
    bootstrapServers,
    securityProtocol: protocol,
    ...(sasl ? { saslMechanism: sasl.mechanism, sasl } : {}),
    authType,
    clientId: options.clientId,
    maxInFlight: options.maxInFlight,
    requestTimeoutMs: options.requestTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    ...(tls ? { tls } : {}),
    ...(schemaRegistry ? { schemaRegistry } : {}),
  };
}
