import type { Connection } from '@platformatic/kafka';
import { Admin, listOffsetsV7, metadataV12 } from '@platformatic/kafka';
import { classifyKafkaError } from './errors.js';
import { Limiter } from './limiter.js';
import type { KafkaSettings } from './settings.js';

/** Kafka's fixed timestamps for ListOffsets: earliest (log start) and latest (high watermark). */
const EARLIEST = -2n;
const LATEST = -1n;

/** ConfigResource type 2 is TOPIC in DescribeConfigs. */
const TOPIC_RESOURCE = 2 as const;

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

/** Members and state of one group from DescribeGroups. */
export interface GroupDescription {
  state: string;
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    assignments: { topic: string; partitions: number[] }[];
  }[];
}

/** Committed offsets of one group: topic → partition → offset (−1 when none). */
export type CommittedOffsets = Map<string, Map<number, bigint>>;

const KAFKA_ERROR_IDS: Record<number, string> = {
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  69: 'GROUP_ID_NOT_FOUND',
};

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
          : { errorId: KAFKA_ERROR_IDS[result.errorCode] ?? `KAFKA_ERROR_${result.errorCode}` },
      );
    }
    return out;
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

  /** Every consumer group the principal may describe, with state and protocol type (ListGroups). */
  async groups(): Promise<{ id: string; state: string; protocolType: string; groupType: string }[]> {
    const listed = await this.#call('ListGroups', () => this.#admin.listGroups());
    return [...listed.values()].map((g) => ({
      id: g.id,
      state: g.state,
      protocolType: g.protocolType,
      groupType: g.groupType,
    }));
  }

  /** DescribeGroups for a batch; throws for the whole batch (callers retry one by one to isolate a denial). */
  async describeGroups(ids: string[]): Promise<Map<string, GroupDescription>> {
    const described = await this.#call('DescribeGroups', () => this.#admin.describeGroups({ groups: ids }));
    const out = new Map<string, GroupDescription>();
    for (const [id, group] of described) {
      out.set(id, {
        state: group.state,
        protocolType: group.protocolType,
        protocol: group.protocol,
        members: [...group.members.values()].map((m) => ({
          memberId: m.id,
          groupInstanceId: m.groupInstanceId ?? null,
          clientId: m.clientId,
          clientHost: m.clientHost,
          assignments: [...(m.assignments?.values() ?? [])].map((a) => ({
            topic: a.topic,
            partitions: [...a.partitions],
          })),
        })),
      });
    }
    return out;
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
