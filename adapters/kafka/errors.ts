import { Codes, SdrError } from '../../protocol/index.js';
import type { KafkaSettings } from './settings.js';

/** What the client library nests: `errors` (AggregateError) and `cause`, with Kafka's error ids on leaves. */
interface ClientErrorShape {
  code?: unknown;
  message?: unknown;
  apiId?: unknown;
  apiCode?: unknown;
  errors?: unknown;
  cause?: unknown;
  response?: unknown;
}

/** Every error in the tree under `error`, depth first, the root included. */
export function flattenErrors(error: unknown, seen = new Set<unknown>()): ClientErrorShape[] {
  if (error === null || typeof error !== 'object' || seen.has(error)) return [];
  seen.add(error);
  const shape = error as ClientErrorShape;
  const out: ClientErrorShape[] = [shape];
  if (Array.isArray(shape.errors)) for (const inner of shape.errors) out.push(...flattenErrors(inner, seen));
  if (shape.cause !== undefined) out.push(...flattenErrors(shape.cause, seen));
  return out;
}

/** The Kafka protocol error ids (`TOPIC_AUTHORIZATION_FAILED`, ...) anywhere in an error tree. */
export function kafkaErrorIds(error: unknown): string[] {
  return flattenErrors(error)
    .map((e) => e.apiId)
    .filter((id): id is string => typeof id === 'string');
}

const AUTHORIZATION_IDS = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
]);

/** True when the broker answered with an ACL denial somewhere in this error. */
export function isAuthorizationError(error: unknown): boolean {
  return kafkaErrorIds(error).some((id) => AUTHORIZATION_IDS.has(id));
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_)/;
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
]);

function messageOf(error: ClientErrorShape): string {
  return typeof error.message === 'string' ? error.message : '';
}

/**
 * Turns a client library failure into one catalogued error: wrong credentials, TLS, unreachable brokers and
 * ACL denials each get their own code. Messages come from the library and Node, which never carry the
 * password, token or key; an already catalogued error passes through.
 */
export function classifyKafkaError(error: unknown, settings: KafkaSettings, operation: string): SdrError {
  if (error instanceof SdrError) return error;
  const all = flattenErrors(error);
  const servers = settings.bootstrapServers.join(',');
  const codes = all.map((e) => (typeof e.code === 'string' ? e.code : ''));
  if (
    codes.includes('PLT_KFK_AUTHENTICATION') ||
    kafkaErrorIds(error).includes('SASL_AUTHENTICATION_FAILED')
  ) {
    return new Codes.SDR_ERR_KAFKA_AUTH(servers, settings.saslMechanism ?? settings.authType, {
      cause: error,
    });
  }
  if (kafkaErrorIds(error).includes('UNSUPPORTED_SASL_MECHANISM')) {
    return new Codes.SDR_ERR_KAFKA_AUTH(
      servers,
      `${settings.saslMechanism ?? ''} (not enabled on this listener)`,
      {
        cause: error,
      },
    );
  }
  const tls = all.find(
    (e) =>
      (typeof e.code === 'string' && TLS_CODES.test(e.code)) ||
      /certificate|SSL routines|wrong version number|TLS/i.test(messageOf(e)),
  );
  if (tls) return new Codes.SDR_ERR_KAFKA_TLS(servers, messageOf(tls) || String(tls.code), { cause: error });
  if (isAuthorizationError(error)) {
    const id = kafkaErrorIds(error).find((e) => AUTHORIZATION_IDS.has(e)) ?? 'AUTHORIZATION_FAILED';
    return new Codes.SDR_ERR_KAFKA_DENIED(operation, aclFor(operation, id), { cause: error });
  }
  const network = all.find((e) => typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code));
  if (network)
    return new Codes.SDR_ERR_KAFKA_UNREACHABLE(servers, `${String(network.code)}`, { cause: error });
  if (codes.includes('PLT_KFK_NETWORK') || codes.includes('PLT_KFK_TIMEOUT')) {
    const leaf = all.filter((e) => e.code === 'PLT_KFK_NETWORK' || e.code === 'PLT_KFK_TIMEOUT').at(-1);
    return new Codes.SDR_ERR_KAFKA_UNREACHABLE(servers, messageOf(leaf ?? {}) || 'connection failed', {
      cause: error,
    });
  }
  const leaves = all.filter((e) => !Array.isArray(e.errors) || e.errors.length === 0).map(messageOf);
  return new Codes.SDR_ERR_KAFKA_REQUEST(operation, leaves.filter(Boolean).join('; ') || 'unknown error', {
    cause: error,
  });
}

/** The ACL (operation on resource) a Kafka call needs, written the way `kafka-acls` and Confluent Cloud name it. */
export function aclFor(operation: string, kafkaErrorId = ''): string {
  switch (operation) {
    case 'DescribeConfigs':
      return kafkaErrorId === 'CLUSTER_AUTHORIZATION_FAILED'
        ? 'DESCRIBE_CONFIGS on the Cluster'
        : 'DESCRIBE_CONFIGS on the Topic';
    case 'DescribeLogDirs':
      return 'DESCRIBE on the Cluster';
    case 'DescribeGroups':
    case 'ListGroups':
    case 'OffsetFetch':
      return kafkaErrorId === 'TOPIC_AUTHORIZATION_FAILED'
        ? 'DESCRIBE on the Topic'
        : 'DESCRIBE on the Group';
    case 'ListOffsets':
    case 'Metadata':
      return 'DESCRIBE on the Topic';
    default:
      return kafkaErrorId === 'CLUSTER_AUTHORIZATION_FAILED' ? 'DESCRIBE on the Cluster' : 'DESCRIBE';
  }
}
