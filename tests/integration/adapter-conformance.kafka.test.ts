import { tracingChannel } from 'node:diagnostics_channel';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';
import { peers } from '../peers/endpoints.js';
import { adapterConformance } from '../support/adapter-conformance.js';
import { openSocketsTo } from '../support/open-sockets.js';
import { produce, saslConnection, setupAdmin } from './kafka-fixture.js';

/** The Kafka APIs that only read, by API key; a request with any other key could change the cluster. */
const READ_ONLY_APIS: Record<number, string> = {
  2: 'ListOffsets',
  3: 'Metadata',
  9: 'OffsetFetch',
  10: 'FindCoordinator',
  15: 'DescribeGroups',
  16: 'ListGroups',
  17: 'SaslHandshake',
  18: 'ApiVersions',
  32: 'DescribeConfigs',
  35: 'DescribeLogDirs',
  36: 'SaslAuthenticate',
  60: 'DescribeCluster',
  69: 'ConsumerGroupDescribe',
};

const prefix = `sdrconf${process.pid}-`;
const saslPort = Number(peers.kafka.saslSsl.split(':')[1]);
const admin = setupAdmin();
const topics = Array.from({ length: 40 }, (_, i) => `${prefix}t${String(i).padStart(2, '0')}`);
/** Every request the client library puts on a socket to the SASL_SSL listener: only the adapter uses it. */
const sent: string[] = [];
type ApiMessage = { apiKey?: number; connection?: { port?: number } };
const channel = tracingChannel<unknown, ApiMessage>('plt:kafka:connections:api');
const handlers = {
  start: (message: ApiMessage) => {
    if (message.connection?.port === saslPort && typeof message.apiKey === 'number')
      sent.push(READ_ONLY_APIS[message.apiKey] ?? `api-key-${message.apiKey}`);
  },
  end: () => undefined,
  asyncStart: () => undefined,
  asyncEnd: () => undefined,
  error: () => undefined,
};

adapterConformance({
  name: 'kafka',
  adapter: createKafkaAdapter,
  async setup() {
    await admin.createTopics({ topics, partitions: 2, replicas: 1 });
    await produce(topics[0] as string, { 0: 3, 1: 1 });
    channel.subscribe(handlers);
    const good = saslConnection();
    return {
      connection: good,
      badCredentials: saslConnection({ credentials: { password: 'sdr-wrong-password-for-conformance' } }),
      badSecrets: ['sdr-wrong-password-for-conformance'],
      options: { topics: { include: [`${prefix}*`] }, groups: { include: [`${prefix}*`] } },
      secrets: [peers.kafka.admin.password],
      evidence: {
        operations: () => sent,
        reset: () => {
          sent.length = 0;
        },
      },
      isRead: (operation) => Object.values(READ_ONLY_APIS).includes(operation),
      openSessions: async () => openSocketsTo(saslPort),
    };
  },
  async teardown() {
    channel.unsubscribe(handlers);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.close();
  },
});
