/**
 * The adapter's topic records checked field by field against Kafka's own CLI tools on the peer cluster, so a
 * client upgrade (or a change of ours) cannot silently change a field: kafka-topics.sh --describe,
 * kafka-configs.sh --describe (topics: dynamic and --all; brokers: --all and --entity-default), GetOffsetShell (earliest and latest) and
 * kafka-log-dirs.sh. Consumer groups are compared with kafka-consumer-groups.sh in kafka-groups.kafka.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALWAYS_REPORTED_BROKER_CONFIGS,
  ALWAYS_REPORTED_CONFIGS,
  createKafkaAdapter,
} from '../../adapters/kafka/index.js';
import { peers } from '../peers/endpoints.js';
import { kafkaTools, KafkaTools } from '../support/kafka-java.js';
import { byName, extractAll, produce, saslConnection, setupAdmin, testContext } from './kafka-fixture.js';

const prefix = `sdrc${process.pid}-`;
const topics: Record<
  string,
  { partitions: number; configs: { name: string; value: string }[]; messages: Record<number, number> }
> = {
  [`${prefix}compacted`]: {
    partitions: 3,
    configs: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'min.compaction.lag.ms', value: '60000' },
    ],
    messages: { 0: 4, 1: 2, 2: 7 },
  },
  [`${prefix}retained`]: {
    partitions: 2,
    configs: [
      { name: 'retention.ms', value: '7200000' },
      { name: 'max.message.bytes', value: '524288' },
      { name: 'compression.type', value: 'zstd' },
    ],
    messages: { 0: 3, 1: 9 },
  },
  [`${prefix}plain`]: { partitions: 1, configs: [], messages: { 0: 1 } },
};
const names = Object.keys(topics);
const admin = setupAdmin();
const bootstrap = ['--bootstrap-server', peers.kafka.plaintext];
const regex = `${prefix}.*`;

beforeAll(async () => {
  for (const [name, spec] of Object.entries(topics)) {
    await admin.createTopics({
      topics: [name],
      partitions: spec.partitions,
      replicas: 1,
      configs: spec.configs,
    });
    await produce(name, spec.messages);
  }
}, 120_000);

afterAll(async () => {
  await admin.deleteTopics({ topics: names }).catch(() => undefined);
  await admin.close();
});

/** Kafka prints topic ids as base64url; the adapter as a dashed hex UUID. */
function uuidFromBase64(id: string): string {
  const hex = Buffer.from(id, 'base64url').toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `Key: value<TAB>Key: value` lines of kafka-topics --describe. */
function tabFields(line: string): Record<string, string> {
  return Object.fromEntries(
    line
      .trim()
      .split('\t')
      .map((cell) => {
        const at = cell.indexOf(':');
        return [cell.slice(0, at).trim(), cell.slice(at + 1).trim()];
      }),
  );
}

/**
 * kafka-configs sections (`All configs for topic X are:`, `Dynamic configs for broker 1 are:`, `Default
 * configs for brokers in the cluster are:` as ""): entity → config name → value and effective source.
 */
function configSections(text: string): Map<string, Map<string, { value: string; source: string }>> {
  const out = new Map<string, Map<string, { value: string; source: string }>>();
  let current: Map<string, { value: string; source: string }> | undefined;
  for (const line of text.split('\n')) {
    const header =
      /^(?:All|Dynamic) configs for (?:topic|broker) (\S+) are:$/.exec(line.trim()) ??
      (/^Default configs for brokers in the cluster are:$/.test(line.trim()) ? ['', ''] : null);
    if (header) {
      current = new Map();
      out.set(header[1] ?? '', current);
    } else if (current && /^\s+\S+=/.test(line)) {
      const [entry = '', rest = ''] = line.trim().split(' sensitive=');
      const at = entry.indexOf('=');
      const source = /synonyms=\{(\w+):/.exec(rest)?.[1] ?? 'DEFAULT_CONFIG';
      current.set(entry.slice(0, at), { value: entry.slice(at + 1), source });
    }
  }
  return out;
}

const list = (cell: string | undefined) => (cell ? cell.split(',').filter(Boolean).map(Number) : []);

describe('topic records against the Kafka CLI tools', () => {
  it('match kafka-topics, kafka-configs, GetOffsetShell and kafka-log-dirs field by field', async () => {
    const records = await extractAll(
      createKafkaAdapter(),
      saslConnection(),
      { topics: { include: [`${prefix}*`] }, groups: { include: ['none'] }, schemaRegistry: false },
      testContext(),
    );
    const byTopic = byName(records, 'kafka.topic');
    expect([...byTopic.keys()].sort()).toEqual([...names].sort());

    const [
      describeText,
      earliestText,
      latestText,
      logDirsText,
      dynamicText,
      allText,
      brokerText,
      defaultsText,
    ] = await kafkaTools([
      [KafkaTools.topics, [...bootstrap, '--describe', '--topic', regex]],
      [KafkaTools.getOffsetShell, [...bootstrap, '--topic', regex, '--time', '-2']],
      [KafkaTools.getOffsetShell, [...bootstrap, '--topic', regex, '--time', '-1']],
      [KafkaTools.logDirs, [...bootstrap, '--describe', '--topic-list', names.join(',')]],
      // Without --entity-name, kafka-configs describes every topic: one call for each view.
      [KafkaTools.configs, [...bootstrap, '--describe', '--entity-type', 'topics']],
      [KafkaTools.configs, [...bootstrap, '--describe', '--all', '--entity-type', 'topics']],
      [KafkaTools.configs, [...bootstrap, '--describe', '--all', '--entity-type', 'brokers']],
      [KafkaTools.configs, [...bootstrap, '--describe', '--entity-type', 'brokers', '--entity-default']],
    ]);

    const fields = { topics: 0, partitions: 0, partitionFields: 0, configEntries: 0 };
    const offsets = (text: string) =>
      new Map(
        text
          .trim()
          .split('\n')
          .map((line) => {
            const [topic, partition, offset] = line.trim().split(':');
            return [`${topic ?? ''}:${partition ?? ''}`, Number(offset)] as const;
          }),
      );
    const earliest = offsets(earliestText);
    const latest = offsets(latestText);
    const logDirs = JSON.parse(logDirsText.split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
      brokers: { logDirs: { partitions: { partition: string; size: number }[] }[] }[];
    };
    const sizes = new Map<string, number>();
    for (const broker of logDirs.brokers)
      for (const dir of broker.logDirs)
        for (const p of dir.partitions) {
          const topic = p.partition.slice(0, p.partition.lastIndexOf('-'));
          sizes.set(topic, (sizes.get(topic) ?? 0) + p.size);
        }

    const lines = describeText.split('\n').filter((l) => l.trim().startsWith('Topic:'));
    for (const name of names) {
      const record = byTopic.get(name) as Record<string, unknown>;
      const header = lines.map(tabFields).find((f) => f.Topic === name && f.TopicId !== undefined);
      expect(header, name).toBeDefined();
      expect(record.topicId).toBe(uuidFromBase64(header?.TopicId ?? ''));
      expect(String(record.partitionCount)).toBe(header?.PartitionCount);
      expect(String(record.replicationFactor)).toBe(header?.ReplicationFactor);
      fields.topics++;

      const partitions = lines
        .map(tabFields)
        .filter((f) => f.Topic === name && f.Partition !== undefined)
        .map((f) => ({
          partition: Number(f.Partition),
          leader: Number(f.Leader),
          replicas: list(f.Replicas),
          isr: list(f.Isr),
          lowWatermark: earliest.get(`${name}:${f.Partition ?? ''}`),
          highWatermark: latest.get(`${name}:${f.Partition ?? ''}`),
        }));
      const ours = (record.partitions as Record<string, unknown>[]).map((p) => ({
        partition: p.partition,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
        lowWatermark: p.lowWatermark,
        highWatermark: p.highWatermark,
      }));
      expect(ours, name).toEqual(partitions.sort((a, b) => a.partition - b.partition));
      fields.partitions += ours.length;
      fields.partitionFields += ours.length * 6;
      expect(record.sizeBytes, name).toBe(sizes.get(name));
    }

    // kafka-configs --describe lists the topic's own (dynamic) configs; --all lists every config with its value.
    const dynamic = configSections(dynamicText);
    const all = configSections(allText);
    for (const name of names) {
      const record = byTopic.get(name) as unknown as {
        configs: Record<string, string | null>;
        configOverrides: string[];
      };
      const own = dynamic.get(name) ?? new Map<string, { value: string; source: string }>();
      expect(record.configOverrides, name).toEqual([...own.keys()].sort());
      for (const [key, { value }] of own) expect(record.configs[key], `${name} ${key}`).toBe(value);
      for (const key of ALWAYS_REPORTED_CONFIGS)
        expect(record.configs[key], `${name} ${key}`).toBe(all.get(name)?.get(key)?.value);
      fields.configEntries += own.size + ALWAYS_REPORTED_CONFIGS.length;
    }
    expect(fields).toEqual({ topics: 3, partitions: 6, partitionFields: 36, configEntries: 5 + 3 * 7 });

    // Broker configs: every config whose effective source is not Kafka's default, with that source, plus
    // the always-reported ones; and the cluster-wide dynamic defaults.
    const cluster = records.find((r) => r.kind === 'kafka.cluster') as unknown as {
      brokers: { id: number }[];
      brokerConfigs: {
        brokerId: number;
        configs: Record<string, string | null>;
        sources: Record<string, string>;
      }[];
      clusterDynamicDefaults: Record<string, string | null>;
    };
    const brokers = configSections(brokerText);
    let brokerEntries = 0;
    expect(cluster.brokerConfigs.map((b) => b.brokerId)).toEqual(cluster.brokers.map((b) => b.id));
    for (const broker of cluster.brokerConfigs) {
      const theirs =
        brokers.get(String(broker.brokerId)) ?? new Map<string, { value: string; source: string }>();
      const nonDefault = [...theirs].filter(([, e]) => e.source !== 'DEFAULT_CONFIG').map(([k]) => k);
      const ours = Object.keys(broker.configs);
      expect(ours.filter((k) => broker.sources[k] !== 'DEFAULT_CONFIG').sort()).toEqual(nonDefault.sort());
      for (const key of [...nonDefault, ...ALWAYS_REPORTED_BROKER_CONFIGS]) {
        expect(broker.configs[key] ?? 'null', `broker ${broker.brokerId} ${key}`).toBe(
          theirs.get(key)?.value,
        );
        expect(broker.sources[key], `broker ${broker.brokerId} ${key}`).toBe(theirs.get(key)?.source);
        brokerEntries++;
      }
    }
    const defaults =
      configSections(defaultsText).get('') ?? new Map<string, { value: string; source: string }>();
    expect(cluster.clusterDynamicDefaults).toEqual(
      Object.fromEntries([...defaults].map(([k, e]) => [k, e.value])),
    );
    expect(brokerEntries).toBeGreaterThan(ALWAYS_REPORTED_BROKER_CONFIGS.length);
  }, 300_000);
});
