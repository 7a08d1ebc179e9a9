import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import type { SourceConnection } from '../adapters/index.js';
import { Codes, type SdrError } from '../protocol/index.js';
import {
  bucketSecretReferences,
  type DeliverySettings,
  deliverySettingsSchema,
  TUNNEL_ONLY,
} from './delivery/settings.js';

/** One source the customer allows this runtime to crawl. Secrets are references, never values. */
export interface ConnectionDefinition {
  readonly name: string;
  readonly type: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  /** Name → secret reference (`env://…`, `file://…`, `vault://…`). */
  readonly secrets: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, unknown>>;
  /** Ceilings on what a request may read (databases, function bodies, …); the adapter defines the keys. */
  readonly limits?: Readonly<Record<string, unknown>>;
  /** Which delivery modes the customer allows for this connection, and its bucket (docs/delivery.md). */
  readonly delivery: DeliverySettings;
}

const looksLikeSecretValue = /^(?![a-z][a-z0-9+.-]*:\/\/)/;

const connectionSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/, { error: 'expected letters, digits, _ . -' }),
    type: z.string().min(1),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    database: z.string().min(1).optional(),
    secrets: z
      .record(
        z.string(),
        z.string().refine((value) => !looksLikeSecretValue.test(value), {
          error:
            'must be a secret reference such as env://NAME or file:///run/secrets/name, never the value itself',
        }),
      )
      .default({}),
    options: z.record(z.string(), z.unknown()).default({}),
    limits: z.record(z.string(), z.unknown()).default({}),
    delivery: deliverySettingsSchema.optional(),
  })
  .strict();

const fileSchema = z.object({ connections: z.array(connectionSchema) }).strict();

/** Checks each connection against the adapters and secret providers this build has. */
export interface ConnectionValidators {
  adapterTypes: readonly string[];
  validateSecretReference(reference: string): void;
  /** Validates a connection's `limits` block with its adapter; throws naming the problem. */
  validateLimits?(connection: ConnectionDefinition): void;
}

/** Why the connections file cannot be read, and the fix, in one line. */
function unreadableConnectionsFile(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code ?? 'error';
  // In compose, ./connections.yaml is bind-mounted at /etc/sdr/connections.yaml; when the host file is
  // missing, Docker mounts an empty directory in its place.
  const compose =
    'with docker compose, create connections.yaml next to compose.yaml (cp connections.example.yaml connections.yaml) — it is mounted at /etc/sdr/connections.yaml — and recreate the container';
  if (code === 'EISDIR') return `is a directory, not a file (EISDIR); ${compose}`;
  if (code === 'ENOENT')
    return `does not exist (ENOENT); set SDR_CONNECTIONS_FILE to the file that defines your sources, or ${compose}`;
  return `cannot read it (${code}); make it readable to uid ${process.getuid?.() ?? '?'} or set SDR_CONNECTIONS_FILE to the file that defines your sources`;
}

/** Reads and validates the connections file; throws `SDR_ERR_CONNECTIONS_INVALID` naming the entry. */
export function loadConnections(
  file: string,
  validators: ConnectionValidators,
): ReadonlyMap<string, ConnectionDefinition> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new Codes.SDR_ERR_CONNECTIONS_INVALID(file, unreadableConnectionsFile(cause), { cause });
  }
  let document: unknown;
  try {
    document = YAML.parse(text);
  } catch (cause) {
    throw new Codes.SDR_ERR_CONNECTIONS_INVALID(file, `not valid YAML: ${(cause as Error).message}`, {
      cause,
    });
  }
  const parsed = fileSchema.safeParse(document ?? { connections: [] });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = describePath(document, issue?.path ?? []);
    throw new Codes.SDR_ERR_CONNECTIONS_INVALID(file, `${where}: ${issue?.message ?? 'invalid'}`);
  }
  const connections = new Map<string, ConnectionDefinition>();
  for (const connection of parsed.data.connections) {
    if (connections.has(connection.name)) {
      throw new Codes.SDR_ERR_CONNECTIONS_INVALID(file, `connection "${connection.name}" is defined twice`);
    }
    if (!validators.adapterTypes.includes(connection.type)) {
      throw new Codes.SDR_ERR_CONNECTIONS_INVALID(
        file,
        `connection "${connection.name}": type "${connection.type}" has no adapter (known: ${validators.adapterTypes.join(', ')})`,
      );
    }
    const bucketReferences = bucketSecretReferences(connection.delivery?.bucket);
    const references: [string, string][] = [
      ...Object.entries(connection.secrets),
      ...Object.entries(bucketReferences).map(([name, ref]): [string, string] => [
        `delivery.bucket.credentials.${name}`,
        ref,
      ]),
    ];
    for (const [key, reference] of references) {
      try {
        validators.validateSecretReference(reference);
      } catch (cause) {
        throw new Codes.SDR_ERR_CONNECTIONS_INVALID(
          file,
          `connection "${connection.name}" secret "${key}": ${(cause as SdrError).message}`,
          { cause },
        );
      }
    }
    const defined = { ...connection, delivery: connection.delivery ?? TUNNEL_ONLY };
    try {
      validators.validateLimits?.(defined);
    } catch (cause) {
      throw new Codes.SDR_ERR_CONNECTIONS_INVALID(file, (cause as Error).message, { cause });
    }
    connections.set(connection.name, Object.freeze(defined));
  }
  return connections;
}

/** Names a zod issue path by the connection's name where there is one: `connection "pg" → port`. */
function describePath(document: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'connections' || typeof path[1] !== 'number') return path.map(String).join('.') || 'file';
  const entry = (document as { connections?: Array<{ name?: unknown }> }).connections?.[path[1]];
  const label = typeof entry?.name === 'string' ? `connection "${entry.name}"` : `connections[${path[1]}]`;
  return [label, ...path.slice(2).map(String)].join(' → ');
}

/** What an adapter sees of a connection: its definition, limits and resolved credentials. */
export function sourceConnectionOf(
  definition: ConnectionDefinition,
  credentials: Readonly<Record<string, string>>,
): SourceConnection {
  return {
    name: definition.name,
    type: definition.type,
    ...(definition.host === undefined ? {} : { host: definition.host }),
    ...(definition.port === undefined ? {} : { port: definition.port }),
    ...(definition.database === undefined ? {} : { database: definition.database }),
    options: definition.options,
    limits: definition.limits ?? {},
    credentials,
  };
}
