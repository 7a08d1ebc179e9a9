// Needs the kafka and schema-registry peers (SDR_TEST_PEERS=kafka,schema-registry).
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';
import { SdrError } from '../../protocol/index.js';
import { peers } from '../peers/endpoints.js';
import { extractAll, saslConnection, setupAdmin, testContext, tlsMaterial } from './kafka-fixture.js';

const prefix = `sdrsr${process.pid}-`;
const customers = `${prefix}customers`;
const orders = `${prefix}orders`;
const registry = peers.schemaRegistry;
const admin = setupAdmin();
const agent = new Agent({ connect: { ca: tlsMaterial().ca } });
const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
const adapter = createKafkaAdapter();

async function call(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await request(`${registry.url}${path}`, {
    method,
    dispatcher: agent,
    headers: { authorization: auth, 'content-type': 'application/vnd.schemaregistry.v1+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
  return text ? JSON.parse(text) : null;
}

const address = JSON.stringify({
  type: 'record',
  name: 'Address',
  namespace: 'com.acme',
  fields: [{ name: 'city', type: 'string' }],
});
const customerV1 = JSON.stringify({
  type: 'record',
  name: 'Customer',
  namespace: 'com.acme',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'home', type: 'com.acme.Address' },
  ],
});
const customerV2 = JSON.stringify({
  type: 'record',
  name: 'Customer',
  namespace: 'com.acme',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'home', type: 'com.acme.Address' },
    { name: 'email', type: ['null', 'string'], default: null },
  ],
});
const customerKey = JSON.stringify({ type: 'object', properties: { id: { type: 'string' } } });
const orderProto =
  'syntax = "proto3";\npackage acme;\nmessage Order {\n  string id = 1;\n  int64 cents = 2;\n}\n';
const audit = JSON.stringify({ type: 'record', name: 'Audit', namespace: 'com.acme', fields: [] });
const subjects = {
  address: `${prefix}com.acme.Address`,
  value: `${customers}-value`,
  key: `${customers}-key`,
  orderValue: `${orders}-value`,
  audit: `${customers}-com.acme.Audit`,
  orphan: `${prefix}gone-value`,
};
let globalBefore: string;
const ids: Record<string, number> = {};

beforeAll(async () => {
  await admin.createTopics({ topics: [customers, orders], partitions: 1, replicas: 1 });
  globalBefore = ((await call('GET', '/config')) as { compatibilityLevel: string }).compatibilityLevel;
  await call('PUT', '/config', { compatibility: 'BACKWARD' });
  const register = async (subject: string, body: object) =>
    ((await call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, body)) as { id: number }).id;
  ids.address = await register(subjects.address, { schema: address });
  const reference = [{ name: 'com.acme.Address', subject: subjects.address, version: 1 }];
  ids.v1 = await register(subjects.value, { schema: customerV1, references: reference });
  ids.v2 = await register(subjects.value, { schema: customerV2, references: reference });
  ids.key = await register(subjects.key, { schemaType: 'JSON', schema: customerKey });
  ids.order = await register(subjects.orderValue, { schemaType: 'PROTOBUF', schema: orderProto });
  ids.audit = await register(subjects.audit, { schema: audit });
  ids.orphan = await register(subjects.orphan, { schemaType: 'JSON', schema: customerKey });
  await call('PUT', `/config/${encodeURIComponent(subjects.value)}`, { compatibility: 'FULL' });
});

afterAll(async () => {
  for (const subject of Object.values(subjects).reverse()) {
    await call('DELETE', `/subjects/${encodeURIComponent(subject)}`).catch(() => undefined);
    await call('DELETE', `/subjects/${encodeURIComponent(subject)}?permanent=true`).catch(() => undefined);
  }
  await call('PUT', '/config', { compatibility: globalBefore }).catch(() => undefined);
  await admin.deleteTopics({ topics: [customers, orders] }).catch(() => undefined);
  await admin.close();
  await agent.close();
});

function withRegistry(url = registry.url, secret: string = registry.password) {
  return saslConnection({
    options: { schemaRegistry: { url } },
    credentials: { schemaRegistryKey: registry.username, schemaRegistrySecret: secret },
  });
}

describe('kafka adapter with a real Confluent-compatible Schema Registry (HTTPS, basic auth)', () => {
  it('extracts every subject with versions, ids, types, schema text, references, compatibility and topic', async () => {
    const context = testContext();
    const records = await extractAll(
      adapter,
      withRegistry(),
      { topics: { include: [`${prefix}*`] }, groups: { include: [] }, subjects: { include: [`${prefix}*`] } },
      context,
    );
    expect(context.warnings).toEqual([]);
    expect(records[0]).toMatchObject({
      kind: 'kafka.cluster',
      schemaRegistryUrl: registry.url,
      schemaRegistryCompatibility: 'BACKWARD',
    });
    const found = new Map(
      records.filter((r) => r.kind === 'kafka.schema_subject').map((r) => [r.subject as string, r]),
    );
    expect([...found.keys()].sort()).toEqual(Object.values(subjects).sort());

    expect(found.get(subjects.value)).toMatchObject({
      parent: records[0]!.key,
      topic: customers,
      role: 'value',
      namingStrategy: 'TopicNameStrategy',
      topicExists: true,
      compatibility: 'FULL',
      effectiveCompatibility: 'FULL',
      globalCompatibility: 'BACKWARD',
      latestVersion: 2,
      latestSchemaId: ids.v2,
      schemaType: 'AVRO',
      versions: [
        {
          version: 1,
          id: ids.v1,
          schemaType: 'AVRO',
          schema: expect.stringContaining('"Customer"'),
          references: [{ name: 'com.acme.Address', subject: subjects.address, version: 1 }],
        },
        {
          version: 2,
          id: ids.v2,
          schemaType: 'AVRO',
          schema: expect.stringContaining('"email"'),
          references: [{ name: 'com.acme.Address', subject: subjects.address, version: 1 }],
        },
      ],
    });
    expect(JSON.parse((found.get(subjects.value)!.versions as { schema: string }[])[0]!.schema)).toEqual(
      JSON.parse(customerV1),
    );
    expect(found.get(subjects.key)).toMatchObject({
      topic: customers,
      role: 'key',
      schemaType: 'JSON',
      effectiveCompatibility: expect.any(String),
      versions: [{ version: 1, id: ids.key, schemaType: 'JSON', references: [] }],
    });
    expect(found.get(subjects.orderValue)).toMatchObject({
      topic: orders,
      role: 'value',
      schemaType: 'PROTOBUF',
      versions: [{ version: 1, id: ids.order, schema: expect.stringContaining('message Order') }],
    });
    expect(found.get(subjects.audit)).toMatchObject({
      topic: customers,
      role: null,
      namingStrategy: 'TopicRecordNameStrategy',
    });
    // RecordNameStrategy subjects name a type, not a topic.
    expect(found.get(subjects.address)).toMatchObject({ topic: null, role: null, namingStrategy: 'unknown' });
    expect(found.get(subjects.orphan)).toMatchObject({
      topic: `${prefix}gone`,
      role: 'value',
      topicExists: false,
    });
    expect(JSON.stringify(records)).not.toContain(registry.password);
  });

  it('reports a wrong secret, a wrong URL and an unreachable registry each with its own code', async () => {
    const code = async (connection: ReturnType<typeof withRegistry>) => {
      try {
        await adapter.check(connection, testContext());
      } catch (error) {
        expect(error).toBeInstanceOf(SdrError);
        expect((error as Error).message).not.toContain('not-the-secret');
        return (error as SdrError).code;
      }
      return 'no error';
    };
    expect(await code(withRegistry(registry.url, 'not-the-secret'))).toBe('SDR_ERR_SCHEMA_REGISTRY_AUTH');
    expect(await code(withRegistry(registry.url.replace('/apis/ccompat/v7', '/no-such-api')))).toBe(
      'SDR_ERR_SCHEMA_REGISTRY_NOT_FOUND',
    );
    expect(await code(withRegistry('https://127.0.0.1:1'))).toBe('SDR_ERR_SCHEMA_REGISTRY_UNREACHABLE');

    // An extraction fails on the registry before crawling the cluster.
    const records: unknown[] = [];
    await expect(
      (async () => {
        for await (const record of adapter.extract(
          withRegistry(registry.url, 'not-the-secret'),
          adapter.parseOptions({}, 'kafka-test'),
          testContext(),
        )) {
          records.push(record);
        }
      })(),
    ).rejects.toMatchObject({ code: 'SDR_ERR_SCHEMA_REGISTRY_AUTH' });
    expect(records).toEqual([]);
  });
});
