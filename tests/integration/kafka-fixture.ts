/** Shared set-up for tests against the real Kafka peer (tests/peers/kafka.sh). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Acl, Admin, Producer, stringSerializers } from '@platformatic/kafka';
import type {
  AdapterContext,
  MetadataRecord,
  SourceAdapter,
  SourceConnection,
} from '../../adapters/types.js';
import { peers } from '../peers/endpoints.js';
import { waitFor } from '../support/wait.js';

/** PEM text of the peer's throwaway CA and client certificate. */
export function tlsMaterial(): { ca: string; cert: string; key: string } {
  const dir = peers.kafka.tlsDir;
  return {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'client.pem'), 'utf8'),
    key: readFileSync(join(dir, 'client-key.pem'), 'utf8'),
  };
}

/** An admin client on the PLAINTEXT listener (principal ANONYMOUS, a super user) for test set-up only. */
export function setupAdmin(): Admin {
  return new Admin({ clientId: 'sdr-test-setup', bootstrapBrokers: [peers.kafka.plaintext] });
}

/**
 * Creates ACLs and waits until the broker's authorizer answers with each: KRaft applies them
 * asynchronously, and a client that connects before that is authorized as if they were absent.
 */
export async function createAclsAndWait(admin: Admin, acls: Acl[]): Promise<void> {
  await admin.createAcls({ creations: acls });
  await waitFor(
    `Kafka to apply ${acls.length} new ACLs`,
    async () => {
      for (const acl of acls) {
        const found = await admin.describeAcls({ filter: acl });
        if (!found.some((resource) => resource.acls.length > 0)) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/**
 * Waits until every listed partition of a just-created topic has a leader: on a loaded broker the
 * controller can take seconds to elect them, and a produce before that fails.
 */
async function waitForLeaders(topic: string, partitions: number[]): Promise<void> {
  const admin = setupAdmin();
  try {
    await waitFor(
      `a leader for partitions ${partitions.join(', ')} of Kafka topic ${topic}`,
      async () => {
        const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
        const found = metadata.topics.get(topic)?.partitions ?? [];
        return partitions.every((p) => (found[p]?.leader ?? -1) >= 0);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  } finally {
    await admin.close();
  }
}

/** Writes `count` small messages to each listed partition. */
export async function produce(topic: string, perPartition: Record<number, number>): Promise<void> {
  await waitForLeaders(topic, Object.keys(perPartition).map(Number));
  const producer = new Producer({
    clientId: 'sdr-test-producer',
    bootstrapBrokers: [peers.kafka.plaintext],
    serializers: stringSerializers,
    // A leader can still move just after election; ride that out rather than fail the set-up. Idempotent, so a
    // retried batch the broker had already written is not written twice (tests count records exactly).
    retries: 10,
    retryDelay: 500,
    idempotent: true,
  });
  try {
    const messages = Object.entries(perPartition).flatMap(([partition, count]) =>
      Array.from({ length: count }, (_, i) => ({
        topic,
        partition: Number(partition),
        key: `k${i}`,
        value: `v${i}`,
      })),
    );
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
}

/** A connection as the runtime would hand it over, SASL_SSL + SCRAM-SHA-512 as the admin user by default. */
export function saslConnection(
  overrides: { options?: Record<string, unknown>; credentials?: Record<string, string> } = {},
): SourceConnection {
  return {
    name: 'kafka-test',
    type: 'kafka',
    options: {
      bootstrapServers: [peers.kafka.saslSsl],
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      ...overrides.options,
    },
    credentials: {
      username: peers.kafka.admin.username,
      password: peers.kafka.admin.password,
      tlsCa: tlsMaterial().ca,
      ...overrides.credentials,
    },
  };
}

/** An adapter context that records warnings. */
export function testContext(signal: AbortSignal = new AbortController().signal): AdapterContext & {
  warnings: string[];
} {
  const warnings: string[] = [];
  const noop = () => undefined;
  return { signal, log: { debug: noop, info: noop, warn: noop }, warn: (m) => warnings.push(m), warnings };
}

/** Runs a full extraction and returns its records. */
export async function extractAll<O>(
  adapter: SourceAdapter<O>,
  connection: SourceConnection,
  raw: Record<string, unknown>,
  context: AdapterContext,
): Promise<MetadataRecord[]> {
  const records: MetadataRecord[] = [];
  for await (const record of adapter.extract(
    connection,
    adapter.parseOptions(raw, connection.name),
    context,
  )) {
    records.push(record);
  }
  return records;
}

/** The records of one kind, by key suffix after the last `/`. */
export function byName(records: MetadataRecord[], kind: string): Map<string, MetadataRecord> {
  return new Map(
    records.filter((r) => r.kind === kind).map((r) => [r.key.slice(r.key.lastIndexOf('/') + 1), r] as const),
  );
}
