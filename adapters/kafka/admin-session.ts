import type { Connection, Reader } from '@platformatic/kafka';
import {
  Admin,
  apiVersionsV3,
  createAPI,
  describeConfigsV4,
  findCoordinatorV4,
  listOffsetsV7,
  metadataV12,
  ResponseError,
  Writer,
} from '@platformatic/kafka';
import { classifyKafkaError } from './errors.js';
import {
  decodeConsumerGroupDescribeV0,
  decodeDescribeGroupsV5,
  decodeListGroups,
  type ListedGroup,
  type RawClassicGroup,
  type RawConsumerGroup,
} from './group-protocol.js';
import { Limiter } from '../shared/index.js';
import type { KafkaSettings } from './settings.js';

/** Kafka's fixed timestamps for ListOffsets: earliest (log start) and latest (high watermark). */
const EARLIEST = -2n;
const LATEST = -1n;

/** ConfigResource type 2 is TOPIC in DescribeConfigs. */
const TOPIC_RESOURCE = 2 as const;
/** ConfigResource type 4 is BROKER; its empty name stands for the cluster-wide dynamic defaults. */
const BROKER_RESOURCE = 4 as const;

/** ListOffsets isolation level 0: the high watermark, not the last stable offset. */
const READ_UNCOMMITTED = 0;

/** Broker addresses and ids as the cluster describes itself. */
export interface ClusterInfo {
  clusterId: string;
  controllerId: number;
  brokers: { id: number; host: string; port: number; rack: string | null }[];
}

/** A topic as Metadata describes it. */
export interface TopicMetadata {
  name: string;
  id: string;
  internal: boolean;
  partitions: PartitionInfo[];
}

/** One partition's placement from Metadata. */
export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
}

/** One entry of a DescribeConfigs answer; `source` is Kafka's ConfigSource (1 = set on the topic). */
export interface ConfigEntry {
  name: string;
  value: string | null;
  source: number;
  sensitive: boolean;
}

/** A DescribeConfigs answer for one topic, or the Kafka error id that denied it. */
export type TopicConfigResult = { configs: ConfigEntry[] } | { errorId: string };

/** Committed offsets of one group: topic → partition → offset (−1 when none). */
export type CommittedOffsets = Map<string, Map<number, bigint>>;

const KAFKA_ERROR_IDS: Record<number, string> = {
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  69: 'GROUP_ID_NOT_FOUND',
};

/** Kafka's name for a protocol error code, or `KAFKA_ERROR_<n>`. */
function kafkaErrorId(code: number): string {
  return KAFKA_ERROR_IDS[code] ?? `KAFKA_ERROR_${code}`;
}

/** A broker-level error code as the client library's error shape, so `classifyKafkaError` reads its id. */
function kafkaResponseError(apiKey: number, code: number): Error {
  return new ResponseError(apiKey, 0, { '/': [code, null] }, {});
}

const LIST_GROUPS = 16;
const DESCRIBE_GROUPS = 15;
const CONSUMER_GROUP_DESCRIBE = 69;
/** FindCoordinator key type 0: a consumer group. */
const GROUP_KEY_TYPE = 0;

/** The response body after the header, as one buffer for the adapter's own decoders. */
function body(reader: Reader): Buffer {
  return reader.buffer.slice(reader.position, reader.length);
}

/** Request body: a compact array of group ids and include_authorized_operations = false (flexible). */
function groupIdsRequest(ids: string[]): Writer {
  return Writer.create()
    .appendArray(ids, (w, id) => w.appendString(id), true, false)
    .appendBoolean(false)
    .appendTaggedFields();
}

// The group APIs are sent through the library's connection but decoded here: a decoding error is thrown
// inside the connection's parser call, which hands it to our callback as a rejected request.
const listGroupsV5 = createAPI<[], ReturnType<typeof decodeListGroups>>(
  LIST_GROUPS,
  5,
  () =>
    Writer.create()
      .appendArray([], () => undefined, true, false)
      .appendArray([], () => undefined, true, false)
      .appendTaggedFields(),
  (_c, _k, _v, reader) => decodeListGroups(body(reader), 5),
);
const listGroupsV4 = createAPI<[], ReturnType<typeof decodeListGroups>>(
  LIST_GROUPS,
  4,
  () =>
    Writer.create()
      .appendArray([], () => undefined, true, false)
      .appendTaggedFields(),
  (_c, _k, _v, reader) => decodeListGroups(body(reader), 4),
);
const describeGroupsV5 = createAPI<[string[]], RawClassicGroup[]>(
  DESCRIBE_GROUPS,
  5,
  groupIdsRequest,
  (_c, _k, _v, reader) => decodeDescribeGroupsV5(body(reader)),
);
const consumerGroupDescribeV0 = createAPI<[string[]], RawConsumerGroup[]>(
  CONSUMER_GROUP_DESCRIBE,
  0,
  groupIdsRequest,
  (_c, _k, _v, reader) => decodeConsumerGroupDescribeV0(body(reader)),
);

/** The raw response a `ResponseError` carries when only some entries of a batch failed. */
function partialResponse<T>(error: unknown): T | undefined {
  const stack: unknown[] = [error];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const shape = current as { code?: unknown; response?: unknown; errors?: unknown; cause?: unknown };
    if (shape.code === 'PLT_KFK_RESPONSE' && shape.response) return shape.response as T;
    if (Array.isArray(shape.errors)) stack.push(...(shape.errors as unknown[]));
    if (shape.cause !== undefined) stack.push(shape.cause);
  }
  return undefined;
}

/**
 * The one admin connection of a job. Every call is a read (Metadata, Describe*, List*, OffsetFetch);
 * at most `maxInFlight` run at once, and each failure becomes a catalogued error. Closing it (or aborting
 * `signal`) fails the calls still pending.
 */
export class AdminSession {
  readonly #admin: Admin;
  readonly #limiter: Limiter;
  readonly #settings: KafkaSettings;
  readonly #onAbort: () => void;
  readonly #signal: AbortSignal;
  #closed: Promise<void> | undefined;
  #brokerConnections: Promise<Map<number, Connection>> | undefined;
  #versions: Promise<Map<number, { min: number; max: number }>> | undefined;

  constructor(settings: KafkaSettings, signal: AbortSignal, maxInFlight = settings.maxInFlight) {
    this.#settings = settings;
    this.#signal = signal;
    this.#limiter = new Limiter(maxInFlight);
    this.#admin = new Admin({
      clientId: settings.clientId,
      bootstrapBrokers: settings.bootstrapServers,
      connectTimeout: settings.connectTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      timeout: settings.requestTimeoutMs,
      maxInflights: maxInFlight,
      // One retry for transient broker errors; wrong credentials and denials are never retried.
      retries: 1,
      retryDelay: 250,
      // The broker list fetched at the start serves the whole job's Describe*/List* routing.
      metadataMaxAge: 30 * 60_000,
      ...(settings.tls ? { tls: settings.tls } : {}),
      ...(settings.sasl ? { sasl: settings.sasl } : {}),
    });
    this.#onAbort = () => void this.close();
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    this.#signal.throwIfAborted();
    try {
      return await this.#limiter.run(run);
    } catch (error) {
      this.#signal.throwIfAborted();
      throw classifyKafkaError(error, this.#settings, operation);
    }
  }

  /** Closes the admin client's connections; safe to call twice. */
  close(): Promise<void> {
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#closed ??= this.#admin.close().catch(() => undefined);
    return this.#closed;
  }

  async #connections(): Promise<Map<number, Connection>> {
    this.#brokerConnections ??= this.#admin.connectToBrokers();
    return this.#brokerConnections;
  }

  async #anyConnection(): Promise<Connection> {
    const connections = await this.#connections();
    const first = connections.values().next();
    if (first.done) throw new Error('the cluster metadata lists no broker');
    return first.value;
  }

  /**
   * Cluster id, controller, brokers and every topic the principal may describe, with Kafka's internal flag
   * and partition placement: one Metadata request (v12, Kafka 3.1 and later) for the whole cluster.
   */
  async clusterMetadata(): Promise<ClusterInfo & { topics: TopicMetadata[] }> {
    const raw = await this.#call('Metadata', async () =>
      metadataV12.api.async(await this.#anyConnection(), null, false, false),
    );
    return {
      clusterId: raw.clusterId ?? '',
      controllerId: raw.controllerId,
      brokers: raw.brokers
        .map((b) => ({ id: b.nodeId, host: b.host, port: b.port, rack: b.rack ?? null }))
        .sort((a, b) => a.id - b.id),
      topics: raw.topics
        .filter((t) => t.errorCode === 0 && typeof t.name === 'string')
        .map((t) => ({
          name: t.name as string,
          id: t.topicId,
          internal: t.isInternal,
          partitions: t.partitions
            .map((p) => ({
              partition: p.partitionIndex,
              leader: p.leaderId,
              leaderEpoch: p.leaderEpoch,
              replicas: p.replicaNodes,
              isr: p.isrNodes,
              offlineReplicas: p.offlineReplicas,
            }))
            .sort((a, b) => a.partition - b.partition),
        })),
    };
  }

  /**
   * Earliest or latest offset of each partition (ListOffsets to each partition's leader): topic → partition
   * → offset. Partitions without a leader, or whose answer carries an error, are left out.
   */
  async offsets(
    which: 'earliest' | 'latest',
    topics: { name: string; partitions: PartitionInfo[] }[],
  ): Promise<Map<string, Map<number, bigint>>> {
    const out = new Map<string, Map<number, bigint>>();
    const timestamp = which === 'earliest' ? EARLIEST : LATEST;
    type Wanted = { partitionIndex: number; currentLeaderEpoch: number; timestamp: bigint };
    const byLeader = new Map<number, Map<string, Wanted[]>>();
    for (const topic of topics) {
      for (const p of topic.partitions) {
        if (p.leader < 0) continue;
        const leaderTopics = byLeader.get(p.leader) ?? new Map<string, Wanted[]>();
        const list = leaderTopics.get(topic.name) ?? [];
        list.push({ partitionIndex: p.partition, currentLeaderEpoch: p.leaderEpoch, timestamp });
        leaderTopics.set(topic.name, list);
        byLeader.set(p.leader, leaderTopics);
      }
    }
    if (byLeader.size === 0) return out;
    const connections = await this.#call('Metadata', () => this.#connections());
    type Raw = Awaited<ReturnType<typeof listOffsetsV7.api.async>>;
    await Promise.all(
      [...byLeader].map(async ([leader, leaderTopics]) => {
        const connection = connections.get(leader);
        if (!connection) return;
        const request = [...leaderTopics].map(([name, partitions]) => ({ name, partitions }));
        let raw: Raw;
        try {
          raw = await this.#limiter.run(() =>
            listOffsetsV7.api.async(connection, -1, READ_UNCOMMITTED, request),
          );
        } catch (error) {
          this.#signal.throwIfAborted();
          const partial = partialResponse<Raw>(error);
          if (!partial) throw classifyKafkaError(error, this.#settings, 'ListOffsets');
          raw = partial;
        }
        for (const topic of raw.topics) {
          const partitions = out.get(topic.name) ?? new Map<number, bigint>();
          for (const p of topic.partitions) if (p.errorCode === 0) partitions.set(p.partitionIndex, p.offset);
          out.set(topic.name, partitions);
        }
      }),
    );
    return out;
  }

  /** DescribeConfigs for topics; a topic the ACLs hide gets its error id instead of failing the batch. */
  async topicConfigs(topics: string[]): Promise<Map<string, TopicConfigResult>> {
    type Raw = {
      results: {
        errorCode: number;
        resourceName: string;
        configs: { name: string; value?: string | null; configSource: number; isSensitive: boolean }[];
      }[];
    };
    const resources = topics.map((name) => ({ resourceType: TOPIC_RESOURCE, resourceName: name }));
    let results: Raw['results'];
    try {
      const described = await this.#limiter.run(() => this.#admin.describeConfigs({ resources }));
      results = described.map((r) => ({
        errorCode: 0,
        resourceName: r.resourceName,
        configs: r.configs,
      }));
    } catch (error) {
      const partial = partialResponse<Raw>(error);
      this.#signal.throwIfAborted();
      if (!partial) throw classifyKafkaError(error, this.#settings, 'DescribeConfigs');
      results = partial.results;
    }
    const out = new Map<string, TopicConfigResult>();
    for (const result of results) {
      out.set(
        result.resourceName,
        result.errorCode === 0
          ? {
              configs: result.configs.map((c) => ({
                name: c.name,
                value: c.isSensitive ? null : (c.value ?? null),
                source: c.configSource,
                sensitive: c.isSensitive,
              })),
            }
          : { errorId: kafkaErrorId(result.errorCode) },
      );
    }
    return out;
  }

  /**
   * DescribeConfigs BROKER: each broker's configuration (asked of that broker, which alone knows its static
   * values) and the cluster-wide dynamic defaults (resource name ""). A denied or failed resource is its
   * Kafka error id instead of failing the job.
   */
  async brokerConfigs(brokerIds: number[]): Promise<{
    brokers: Map<number, ConfigEntry[] | { errorId: string }>;
    clusterDefaults: ConfigEntry[] | { errorId: string };
  }> {
    type Raw = Awaited<ReturnType<typeof describeConfigsV4.api.async>>;
    const connections = await this.#call('Metadata', () => this.#connections());
    const describe = async (connection: Connection | undefined, name: string) => {
      if (!connection) return { errorId: 'BROKER_NOT_AVAILABLE' };
      let raw: Raw;
      try {
        raw = await this.#limiter.run(() =>
          describeConfigsV4.api.async(
            connection,
            [{ resourceType: BROKER_RESOURCE, resourceName: name, configurationKeys: null }],
            false,
            false,
          ),
        );
      } catch (error) {
        this.#signal.throwIfAborted();
        const partial = partialResponse<Raw>(error);
        if (!partial) throw classifyKafkaError(error, this.#settings, 'DescribeConfigs');
        raw = partial;
      }
      const result = raw.results[0];
      if (!result) return { errorId: 'NO_ANSWER' };
      if (result.errorCode !== 0) return { errorId: kafkaErrorId(result.errorCode) };
      return result.configs.map((c) => ({
        name: c.name,
        value: c.isSensitive ? null : (c.value ?? null),
        source: c.configSource,
        sensitive: c.isSensitive,
      }));
    };
    const [clusterDefaults, ...perBroker] = await Promise.all([
      describe(connections.values().next().value, ''),
      ...brokerIds.map((id) => describe(connections.get(id), String(id))),
    ]);
    return {
      brokers: new Map(brokerIds.map((id, i) => [id, perBroker[i] ?? { errorId: 'NO_ANSWER' }])),
      clusterDefaults: clusterDefaults ?? { errorId: 'NO_ANSWER' },
    };
  }

  /** Bytes on disk per topic, summed over every replica and log dir (DescribeLogDirs to every broker). */
  async topicSizes(topics: { name: string; partitions: number[] }[]): Promise<Map<string, bigint>> {
    const described = await this.#call('DescribeLogDirs', () =>
      this.#admin.describeLogDirs({
        topics: topics.map((t) => ({ name: t.name, partitions: t.partitions })),
      }),
    );
    const sizes = new Map<string, bigint>();
    for (const broker of described) {
      for (const dir of broker.results) {
        for (const topic of dir.topics) {
          let sum = sizes.get(topic.name) ?? 0n;
          for (const partition of topic.partitions) sum += BigInt(partition.partitionSize);
          sizes.set(topic.name, sum);
        }
      }
    }
    return sizes;
  }

  /** Versions of each API key the cluster's brokers accept (ApiVersions to one broker, asked once). */
  async #apiVersions(): Promise<Map<number, { min: number; max: number }>> {
    this.#versions ??= (async () => {
      const raw = await apiVersionsV3.api.async(await this.#anyConnection(), 'sdr', '1');
      return new Map(raw.apiKeys.map((k) => [k.apiKey, { min: k.minVersion, max: k.maxVersion }]));
    })();
    return this.#versions;
  }

  async #supports(apiKey: number, version: number): Promise<boolean> {
    const range = (await this.#apiVersions()).get(apiKey);
    return range !== undefined && range.min <= version && range.max >= version;
  }

  /**
   * Every group the principal may describe, of every type the brokers report (ListGroups to every broker).
   * v5 with an empty type filter returns classic, consumer (KIP-848), share and streams groups alike; brokers
   * before 3.8 get v4, which has no group types (all their groups are classic).
   */
  async groups(): Promise<ListedGroup[]> {
    const v5 = await this.#call('ApiVersions', () => this.#supports(LIST_GROUPS, 5));
    const api = v5 ? listGroupsV5 : listGroupsV4;
    const connections = await this.#call('Metadata', () => this.#connections());
    const out = new Map<string, ListedGroup>();
    await Promise.all(
      [...connections.values()].map(async (connection) => {
        const answer = await this.#call('ListGroups', () => api.async(connection));
        if (answer.errorCode !== 0) {
          throw classifyKafkaError(
            kafkaResponseError(LIST_GROUPS, answer.errorCode),
            this.#settings,
            'ListGroups',
          );
        }
        for (const group of answer.groups) {
          out.set(group.id, {
            ...group,
            state: group.state.toUpperCase(),
            groupType: group.groupType || (v5 ? '' : 'classic'),
          });
        }
      }),
    );
    return [...out.values()];
  }

  /** The coordinator broker of each group (FindCoordinator v4, batched); a failed lookup is its Kafka error id. */
  async #coordinators(ids: string[]): Promise<Map<string, number | { errorId: string }>> {
    type Raw = Awaited<ReturnType<typeof findCoordinatorV4.api.async>>;
    let raw: Raw;
    try {
      raw = await this.#limiter.run(async () =>
        findCoordinatorV4.api.async(await this.#anyConnection(), GROUP_KEY_TYPE, ids),
      );
    } catch (error) {
      this.#signal.throwIfAborted();
      const partial = partialResponse<Raw>(error);
      if (!partial) throw classifyKafkaError(error, this.#settings, 'FindCoordinator');
      raw = partial;
    }
    const out = new Map<string, number | { errorId: string }>();
    for (const c of raw.coordinators) {
      out.set(c.key, c.errorCode === 0 ? c.nodeId : { errorId: kafkaErrorId(c.errorCode) });
    }
    return out;
  }

  /**
   * Sends one describe call per coordinator for `ids` and merges the answers: group id → its raw entry, or
   * the Kafka error id of the group (lookup or describe). Wire-level decoding failures reject the call.
   */
  async #perCoordinator<G extends { groupId: string; errorCode: number }>(
    operation: string,
    ids: string[],
    send: (connection: Connection, ids: string[]) => Promise<G[]>,
  ): Promise<Map<string, G | { errorId: string }>> {
    const out = new Map<string, G | { errorId: string }>();
    if (ids.length === 0) return out;
    const [coordinators, connections] = await Promise.all([
      this.#coordinators(ids),
      this.#call('Metadata', () => this.#connections()),
    ]);
    const byNode = new Map<number, string[]>();
    for (const id of ids) {
      const node = coordinators.get(id) ?? { errorId: 'COORDINATOR_NOT_AVAILABLE' };
      if (typeof node !== 'number') {
        out.set(id, node);
        continue;
      }
      byNode.set(node, [...(byNode.get(node) ?? []), id]);
    }
    await Promise.all(
      [...byNode].map(async ([node, some]) => {
        const connection = connections.get(node);
        if (!connection) {
          for (const id of some) out.set(id, { errorId: 'COORDINATOR_NOT_AVAILABLE' });
          return;
        }
        for (const group of await this.#call(operation, () => send(connection, some))) {
          out.set(group.groupId, group.errorCode === 0 ? group : { errorId: kafkaErrorId(group.errorCode) });
        }
      }),
    );
    return out;
  }

  /**
   * DescribeGroups v5 for classic groups, sent and decoded by the adapter (see docs/adapters/kafka.md,
   * "Client"): member metadata and assignment come back as bytes for `describeClassicMembers` to decode.
   */
  describeClassicGroups(ids: string[]): Promise<Map<string, RawClassicGroup | { errorId: string }>> {
    return this.#perCoordinator('DescribeGroups', ids, (connection, some) =>
      describeGroupsV5.async(connection, some),
    );
  }

  /** ConsumerGroupDescribe v0 for KIP-848 groups; empty when the brokers do not speak it (before 3.7). */
  async describeConsumerGroups(ids: string[]): Promise<Map<string, RawConsumerGroup | { errorId: string }>> {
    if (ids.length === 0) return new Map();
    if (!(await this.#call('ApiVersions', () => this.#supports(CONSUMER_GROUP_DESCRIBE, 0)))) {
      return new Map(ids.map((id) => [id, { errorId: 'UNSUPPORTED_VERSION' }]));
    }
    return this.#perCoordinator('ConsumerGroupDescribe', ids, (connection, some) =>
      consumerGroupDescribeV0.async(connection, some),
    );
  }

  /** OffsetFetch for a batch of groups (all their topics); throws for the whole batch. */
  async committedOffsets(ids: string[]): Promise<Map<string, CommittedOffsets>> {
    const listed = await this.#call('OffsetFetch', () =>
      this.#admin.listConsumerGroupOffsets({ groups: ids }),
    );
    const out = new Map<string, CommittedOffsets>();
    for (const group of listed) {
      const topics: CommittedOffsets = new Map();
      for (const topic of group.topics) {
        const partitions = new Map<number, bigint>();
        for (const p of topic.partitions) partitions.set(p.partitionIndex, p.committedOffset);
        topics.set(topic.name, partitions);
      }
      out.set(group.groupId, topics);
    }
    return out;
  }
}
