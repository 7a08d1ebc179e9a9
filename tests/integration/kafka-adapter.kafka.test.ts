import type { Acl } from '@platformatic/kafka';
import {
  AclOperations,
  AclPermissionTypes,
  Consumer,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';
import { SdrError } from '../../protocol/index.js';
import { peers } from '../peers/endpoints.js';
import {
  byName,
  createAclsAndWait,
  extractAll,
  produce,
  saslConnection,
  setupAdmin,
  testContext,
  tlsMaterial,
} from './kafka-fixture.js';

const prefix = `sdrt${process.pid}-`;
const orders = `${prefix}orders`;
const payments = `${prefix}payments`;
const audit = `${prefix}audit-log`;
const emptyGroup = `${prefix}billing`;
const activeGroup = `${prefix}shipping`;
const adapter = createKafkaAdapter();
const admin = setupAdmin();
let consumer: Consumer | undefined;
let stream: Awaited<ReturnType<Consumer['consume']>> | undefined;

const only = { topics: { include: [`${prefix}*`] }, groups: { include: [`${prefix}*`] } };

beforeAll(async () => {
  await admin.createTopics({
    topics: [orders],
    partitions: 3,
    replicas: 1,
    configs: [
      { name: 'retention.ms', value: '3600000' },
      { name: 'max.message.bytes', value: '2097152' },
    ],
  });
  await admin.createTopics({
    topics: [payments],
    partitions: 2,
    replicas: 1,
    configs: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  await admin.createTopics({ topics: [audit], partitions: 1, replicas: 1 });
  await produce(orders, { 0: 4, 1: 3, 2: 3 });
  await produce(payments, { 0: 5 });
  // An EMPTY group: offsets committed, nobody connected.
  await admin.alterConsumerGroupOffsets({
    groupId: emptyGroup,
    topics: [
      {
        name: orders,
        partitionOffsets: [
          { partition: 0, offset: 1n },
          { partition: 1, offset: 3n },
        ],
      },
      { name: payments, partitionOffsets: [{ partition: 0, offset: 2n }] },
    ],
  });
  // A STABLE group with one live member that never commits.
  await admin.alterConsumerGroupOffsets({
    groupId: activeGroup,
    topics: [{ name: orders, partitionOffsets: [{ partition: 2, offset: 1n }] }],
  });
  consumer = new Consumer({
    clientId: 'sdr-test-shipping-client',
    groupId: activeGroup,
    bootstrapBrokers: [peers.kafka.plaintext],
    autocommit: false,
    sessionTimeout: 20_000,
    heartbeatInterval: 1_000,
  });
  stream = await consumer.consume({ topics: [orders], mode: 'committed', autocommit: false });
  stream.on('data', () => undefined);
  for (let i = 0; i < 100; i++) {
    const group = (await admin.describeGroups({ groups: [activeGroup] })).get(activeGroup);
    if (group?.state === 'STABLE' && group.members.size === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

afterAll(async () => {
  if (stream) await stream.close();
  if (consumer) await consumer.close();
  await admin.deleteGroups({ groups: [emptyGroup, activeGroup] }).catch(() => undefined);
  await admin.deleteTopics({ topics: [orders, payments, audit] }).catch(() => undefined);
  await admin.close();
});

describe('kafka adapter against a real broker (SASL_SSL + SCRAM-SHA-512)', () => {
  it('extracts cluster, topics and consumer groups with every documented field', async () => {
    const context = testContext();
    const records = await extractAll(adapter, saslConnection(), only, context);
    expect(context.warnings).toEqual([]);

    const cluster = records[0]!;
    expect(cluster.kind).toBe('kafka.cluster');
    const [saslHost, saslPort] = peers.kafka.saslSsl.split(':');
    expect(cluster).toMatchObject({
      controllerId: 1,
      brokers: [{ id: 1, host: saslHost, port: Number(saslPort), rack: null }],
      authType: 'SASL_SSL/SCRAM-SHA-512',
      schemaRegistryUrl: null,
    });
    expect(cluster.clusterId).toMatch(/^[\w-]{22}$/);
    expect(cluster.key).toBe(`kafka://${String(cluster.clusterId)}`);
    expect(cluster.topicCount).toBeGreaterThanOrEqual(3);
    expect(cluster.partitionCount).toBeGreaterThanOrEqual(6);

    const topics = byName(records, 'kafka.topic');
    expect([...topics.keys()].sort()).toEqual([audit, orders, payments].sort());
    const topic = topics.get(orders)!;
    expect(topic).toMatchObject({
      parent: cluster.key,
      name: orders,
      internal: false,
      partitionCount: 3,
      replicationFactor: 1,
      underReplicatedPartitions: 0,
      recordCountEstimate: 10,
    });
    expect(topic.topicId).toMatch(/^[0-9a-f-]{36}$/);
    expect(topic.partitions).toEqual([
      expect.objectContaining({ partition: 0, leader: 1, replicas: [1], isr: [1], underReplicated: false }),
      expect.objectContaining({ partition: 1, leader: 1, replicas: [1], isr: [1], underReplicated: false }),
      expect.objectContaining({ partition: 2, leader: 1, replicas: [1], isr: [1], underReplicated: false }),
    ]);
    expect((topic.partitions as { highWatermark: number }[]).map((p) => p.highWatermark)).toEqual([4, 3, 3]);
    expect((topic.partitions as { lowWatermark: number }[]).map((p) => p.lowWatermark)).toEqual([0, 0, 0]);
    // Non-default configs plus the seven always reported.
    expect(topic.configOverrides).toEqual(['max.message.bytes', 'retention.ms']);
    expect(topic.configs).toEqual({
      'retention.ms': '3600000',
      'max.message.bytes': '2097152',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'compression.type': 'producer',
      'segment.bytes': expect.stringMatching(/^\d+$/),
      'min.insync.replicas': '1',
    });
    expect(topic.sizeBytes).toBeGreaterThan(0);
    expect(topics.get(payments)).toMatchObject({
      configOverrides: ['cleanup.policy'],
      configs: expect.objectContaining({ 'cleanup.policy': 'compact' }),
      recordCountEstimate: 5,
    });

    const groups = byName(records, 'kafka.consumer_group');
    expect([...groups.keys()].sort()).toEqual([emptyGroup, activeGroup].sort());
    expect(groups.get(emptyGroup)).toMatchObject({
      parent: cluster.key,
      state: 'EMPTY',
      // Offsets committed through the admin API, never joined: Kafka records no protocol type.
      protocolType: '',
      members: [],
      offsets: [
        { topic: orders, partition: 0, committedOffset: 1, highWatermark: 4, lag: 3 },
        { topic: orders, partition: 1, committedOffset: 3, highWatermark: 3, lag: 0 },
        { topic: payments, partition: 0, committedOffset: 2, highWatermark: 5, lag: 3 },
      ],
      lagByTopic: { [orders]: 3, [payments]: 3 },
      totalLag: 6,
    });
    const active = groups.get(activeGroup)!;
    expect(active).toMatchObject({
      state: 'STABLE',
      protocolType: 'consumer',
      memberCount: 1,
      offsets: [{ topic: orders, partition: 2, committedOffset: 1, highWatermark: 3, lag: 2 }],
      lagByTopic: { [orders]: 2 },
    });
    const [member] = active.members as { clientId: string; host: string; assignments: unknown[] }[];
    expect(member!.clientId).toBe('sdr-test-shipping-client');
    expect(member!.host).toMatch(/127\.0\.0\.1/);
    expect(member!.assignments).toEqual([{ topic: orders, partitions: [0, 1, 2] }]);
  });

  it('applies include/exclude patterns, skips internal topics by default and can drop empty groups', async () => {
    const records = await extractAll(
      adapter,
      saslConnection(),
      {
        topics: { include: [`${prefix}*`], exclude: ['*-log'] },
        groups: { include: [`${prefix}*`], exclude: [`${prefix}ship*`] },
      },
      testContext(),
    );
    expect([...byName(records, 'kafka.topic').keys()].sort()).toEqual([orders, payments].sort());
    expect([...byName(records, 'kafka.consumer_group').keys()]).toEqual([emptyGroup]);
    expect(records.some((r) => r.kind === 'kafka.topic' && r.internal === true)).toBe(false);

    const noEmpty = await extractAll(
      adapter,
      saslConnection(),
      { ...only, includeEmptyGroups: false },
      testContext(),
    );
    expect([...byName(noEmpty, 'kafka.consumer_group').keys()]).toEqual([activeGroup]);

    const internal = await extractAll(
      adapter,
      saslConnection(),
      { topics: { include: ['__consumer_offsets'] }, groups: { include: [] }, includeInternalTopics: true },
      testContext(),
    );
    expect(byName(internal, 'kafka.topic').get('__consumer_offsets')).toMatchObject({ internal: true });
  });

  it('authenticates with SCRAM-SHA-256, PLAIN, OAUTHBEARER and mTLS as well', async () => {
    const unsignedJwt = (sub: string) => {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      return `${part({ alg: 'none' })}.${part({ sub, iat: now, exp: now + 600 })}.`;
    };
    const tls = tlsMaterial();
    const variants = [
      saslConnection({ options: { saslMechanism: 'SCRAM-SHA-256' } }),
      // PLAIN is what Confluent Cloud API keys use: the key and secret go in as apiKey/apiSecret.
      saslConnection({
        options: { saslMechanism: 'PLAIN' },
        credentials: {
          username: '',
          password: '',
          apiKey: 'sdr-admin',
          apiSecret: peers.kafka.admin.password,
        },
      }),
      saslConnection({
        options: { saslMechanism: 'OAUTHBEARER' },
        credentials: { username: '', password: '', oauthToken: unsignedJwt('sdr-admin') },
      }),
      {
        name: 'kafka-mtls',
        type: 'kafka',
        options: { bootstrapServers: [peers.kafka.mtls], securityProtocol: 'SSL' },
        credentials: { tlsCa: tls.ca, tlsCert: tls.cert, tlsKey: tls.key },
      },
    ];
    const authTypes = [];
    for (const connection of variants) {
      const facts = await adapter.check(connection, testContext());
      expect(facts.clusterId).toEqual(expect.any(String));
      authTypes.push(facts.authType);
    }
    expect(authTypes).toEqual([
      'SASL_SSL/SCRAM-SHA-256',
      'SASL_SSL/PLAIN',
      'SASL_SSL/OAUTHBEARER',
      'SSL/mTLS',
    ]);
  });

  it('gives a specific, secret-free error for wrong credentials, bad TLS, unreachable brokers and plaintext', async () => {
    const failure = async (connection: Parameters<typeof adapter.check>[0]) => {
      try {
        await adapter.check(connection, testContext());
      } catch (error) {
        expect(error).toBeInstanceOf(SdrError);
        expect((error as Error).message).not.toContain('wrong-password');
        expect((error as Error).message).not.toContain(peers.kafka.admin.password);
        return (error as SdrError).code;
      }
      throw new Error('check succeeded');
    };
    expect(await failure(saslConnection({ credentials: { password: 'wrong-password' } }))).toBe(
      'SDR_ERR_KAFKA_AUTH',
    );
    expect(await failure(saslConnection({ credentials: { tlsCa: '' } }))).toBe('SDR_ERR_KAFKA_TLS');
    expect(
      await failure(
        saslConnection({ options: { bootstrapServers: ['127.0.0.1:1'], connectTimeoutMs: 2000 } }),
      ),
    ).toBe('SDR_ERR_KAFKA_UNREACHABLE');
    expect(
      await failure(
        saslConnection({
          options: {
            bootstrapServers: [peers.kafka.plaintext],
            securityProtocol: 'PLAINTEXT',
            saslMechanism: undefined,
          },
        }),
      ),
    ).toBe('SDR_ERR_KAFKA_CONNECTION_INVALID');
    // Allowed explicitly, PLAINTEXT works.
    const facts = await adapter.check(
      {
        name: 'kafka-plaintext',
        type: 'kafka',
        options: {
          bootstrapServers: [peers.kafka.plaintext],
          securityProtocol: 'PLAINTEXT',
          allowPlaintext: true,
        },
        credentials: {},
      },
      testContext(),
    );
    expect(facts.authType).toBe('PLAINTEXT');
  });

  it('keeps a topic whose DescribeConfigs is denied, with a warning naming the missing ACL', async () => {
    const principal = `User:${peers.kafka.reader.username}`;
    const allow = { principal, host: '*', permissionType: AclPermissionTypes.ALLOW };
    const acls: Acl[] = [
      // DESCRIBE on every test topic and group, DESCRIBE_CONFIGS on orders only, nothing on the cluster.
      {
        ...allow,
        resourceType: ResourceTypes.TOPIC,
        resourceName: prefix,
        resourcePatternType: ResourcePatternTypes.PREFIXED,
        operation: AclOperations.DESCRIBE,
      },
      {
        ...allow,
        resourceType: ResourceTypes.GROUP,
        resourceName: prefix,
        resourcePatternType: ResourcePatternTypes.PREFIXED,
        operation: AclOperations.DESCRIBE,
      },
      {
        ...allow,
        resourceType: ResourceTypes.TOPIC,
        resourceName: orders,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        operation: AclOperations.DESCRIBE_CONFIGS,
      },
    ];
    await createAclsAndWait(admin, acls);
    try {
      const context = testContext();
      const records = await extractAll(
        adapter,
        saslConnection({
          credentials: { username: peers.kafka.reader.username, password: peers.kafka.reader.password },
        }),
        only,
        context,
      );
      const topics = byName(records, 'kafka.topic');
      expect([...topics.keys()].sort()).toEqual([audit, orders, payments].sort());
      expect(topics.get(orders)!.configs).toMatchObject({ 'retention.ms': '3600000' });
      expect(topics.get(payments)).toMatchObject({
        configs: null,
        partitionCount: 2,
        recordCountEstimate: 5,
      });
      expect(topics.get(payments)!.sizeBytes).toBeNull();
      expect(context.warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(`topic ${payments}: .*DescribeConfigs.*DESCRIBE_CONFIGS on the Topic`),
          ),
          expect.stringMatching(/DescribeLogDirs.*DESCRIBE on the Cluster/),
        ]),
      );
      expect(byName(records, 'kafka.consumer_group').get(emptyGroup)).toMatchObject({ state: 'EMPTY' });
    } finally {
      await admin.deleteAcls({
        filters: acls.map((acl) => ({ ...acl })),
      });
    }
  });

  it('stops promptly when the job is cancelled', async () => {
    const controller = new AbortController();
    const context = testContext(controller.signal);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const record of adapter.extract(
          saslConnection(),
          adapter.parseOptions({ ...only, batchSize: 1, maxInFlight: 1 }, 'kafka-test'),
          context,
        )) {
          seen.push(record.kind);
          controller.abort(new Error('cancelled by test'));
        }
      })(),
    ).rejects.toThrow();
    expect(seen).toEqual(['kafka.cluster']);
  });
});
