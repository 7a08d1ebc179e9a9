/**
 * Decoders for the consumer-group answers the adapter reads itself (ListGroups v4/v5, DescribeGroups v5,
 * ConsumerGroupDescribe v0) and for the classic consumer protocol's member metadata and assignment.
 *
 * Every read is bounds-checked and every failure is a `KafkaDecodeError`, thrown synchronously to the caller:
 * a broker (or a client we have never seen) that puts unexpected bytes in one group costs that group, never
 * the job or the process. Wire formats: https://kafka.apache.org/protocol#protocol_messages and, for the
 * member payloads, clients/src/main/resources/common/message/ConsumerProtocol{Subscription,Assignment}.json.
 */

/** Bytes that do not decode as the format they should have; carries where and what. */
export class KafkaDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaDecodeError';
  }
}

/** True when `error` (or anything in its cause chain) is a `KafkaDecodeError`. */
export function isDecodeError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    if (current instanceof KafkaDecodeError) return true;
    seen.add(current);
    const shape = current as { cause?: unknown; errors?: unknown };
    if (Array.isArray(shape.errors) && shape.errors.some((e) => isDecodeError(e))) return true;
    current = shape.cause;
  }
  return false;
}

/** A cursor over one buffer whose every read checks the bytes are there and throws `KafkaDecodeError`. */
export class ByteReader {
  readonly #bytes: Buffer;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #take(count: number, what: string): number {
    if (!Number.isInteger(count) || count < 0 || count > this.remaining) {
      throw new KafkaDecodeError(
        `${what}: needs ${count} bytes at offset ${this.#offset}, ${this.remaining} left`,
      );
    }
    const at = this.#offset;
    this.#offset += count;
    return at;
  }

  int8(what: string): number {
    return this.#bytes.readInt8(this.#take(1, what));
  }

  int16(what: string): number {
    return this.#bytes.readInt16BE(this.#take(2, what));
  }

  int32(what: string): number {
    return this.#bytes.readInt32BE(this.#take(4, what));
  }

  boolean(what: string): boolean {
    return this.int8(what) !== 0;
  }

  /** An unsigned varint of at most 5 bytes (a 32-bit value), as Kafka's compact lengths use. */
  uvarint(what: string): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.#bytes.readUInt8(this.#take(1, what));
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw new KafkaDecodeError(`${what}: varint out of range`);
        return value;
      }
    }
    throw new KafkaDecodeError(`${what}: varint longer than 5 bytes`);
  }

  uuid(what: string): string {
    const hex = this.#bytes.toString('hex', this.#take(16, what), this.#offset);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** A length read as compact (varint − 1) or classic (int16/int32); −1 means null. */
  #length(compact: boolean, wide: boolean, what: string): number {
    if (compact) return this.uvarint(what) - 1;
    return wide ? this.int32(what) : this.int16(what);
  }

  nullableString(compact: boolean, what: string): string | null {
    const length = this.#length(compact, false, what);
    if (length === -1) return null;
    if (length < -1) throw new KafkaDecodeError(`${what}: negative string length ${length}`);
    const at = this.#take(length, what);
    return this.#bytes.toString('utf8', at, at + length);
  }

  string(compact: boolean, what: string): string {
    const value = this.nullableString(compact, what);
    if (value === null) throw new KafkaDecodeError(`${what}: null where a string is required`);
    return value;
  }

  /** Bytes as a view into the response (no copy); null stays null. */
  nullableBytes(compact: boolean, what: string): Buffer | null {
    const length = this.#length(compact, true, what);
    if (length === -1) return null;
    if (length < -1) throw new KafkaDecodeError(`${what}: negative byte length ${length}`);
    const at = this.#take(length, what);
    return this.#bytes.subarray(at, at + length);
  }

  bytes(compact: boolean, what: string): Buffer {
    return this.nullableBytes(compact, what) ?? Buffer.alloc(0);
  }

  /**
   * An array; a null array reads as empty. Each element takes at least `minElementBytes`, which bounds the
   * count by the bytes left before anything is allocated.
   */
  array<T>(compact: boolean, what: string, minElementBytes: number, read: (index: number) => T): T[] {
    const count = this.#length(compact, true, what);
    if (count === -1) return [];
    if (count < -1 || count * minElementBytes > this.remaining) {
      throw new KafkaDecodeError(`${what}: ${count} entries cannot fit in ${this.remaining} bytes`);
    }
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(read(i));
    return out;
  }

  /** Skips a flexible version's tagged fields (none of them is needed here). */
  taggedFields(what: string): void {
    const count = this.uvarint(`${what} tag count`);
    for (let i = 0; i < count; i++) {
      this.uvarint(`${what} tag`);
      this.#take(this.uvarint(`${what} tag size`), `${what} tag value`);
    }
  }
}

/** One group of a ListGroups answer. `groupType` is empty before v5 (brokers older than 3.8). */
export interface ListedGroup {
  id: string;
  protocolType: string;
  state: string;
  groupType: string;
}

/** ListGroups v4/v5 response (both flexible): the broker-level error code and its groups. */
export function decodeListGroups(
  bytes: Uint8Array,
  version: 4 | 5,
): { errorCode: number; groups: ListedGroup[] } {
  const r = new ByteReader(bytes);
  r.int32('throttle_time_ms');
  const errorCode = r.int16('error_code');
  const groups = r.array(true, 'groups', 4, () => {
    const group: ListedGroup = {
      id: r.string(true, 'group_id'),
      protocolType: r.string(true, 'protocol_type'),
      state: r.string(true, 'group_state'),
      groupType: version >= 5 ? r.string(true, 'group_type') : '',
    };
    r.taggedFields('group');
    return group;
  });
  r.taggedFields('response');
  return { errorCode, groups };
}

/** A classic group as DescribeGroups returns it, member payloads still encoded. */
export interface RawClassicGroup {
  errorCode: number;
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

/** DescribeGroups v5 response. Member metadata and assignment are kept as bytes, decoded per group later. */
export function decodeDescribeGroupsV5(bytes: Uint8Array): RawClassicGroup[] {
  const r = new ByteReader(bytes);
  r.int32('throttle_time_ms');
  const groups = r.array(true, 'groups', 9, () => {
    const group: RawClassicGroup = {
      errorCode: r.int16('error_code'),
      groupId: r.string(true, 'group_id'),
      state: r.string(true, 'group_state'),
      protocolType: r.string(true, 'protocol_type'),
      protocol: r.string(true, 'protocol_data'),
      members: r.array(true, 'members', 7, () => {
        const member = {
          memberId: r.string(true, 'member_id'),
          groupInstanceId: r.nullableString(true, 'group_instance_id'),
          clientId: r.string(true, 'client_id'),
          clientHost: r.string(true, 'client_host'),
          metadata: r.bytes(true, 'member_metadata'),
          assignment: r.bytes(true, 'member_assignment'),
        };
        r.taggedFields('member');
        return member;
      }),
    };
    r.int32('authorized_operations');
    r.taggedFields('group');
    return group;
  });
  r.taggedFields('response');
  return groups;
}

/** Partitions of one topic assigned to a member. */
export interface TopicAssignment {
  topic: string;
  partitions: number[];
}

/** A KIP-848 (consumer protocol) group as ConsumerGroupDescribe returns it. */
export interface RawConsumerGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  state: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignor: string;
  members: {
    memberId: string;
    instanceId: string | null;
    rackId: string | null;
    memberEpoch: number;
    clientId: string;
    clientHost: string;
    subscribedTopics: string[];
    subscribedTopicRegex: string | null;
    assignment: TopicAssignment[];
    targetAssignment: TopicAssignment[];
  }[];
}

function consumerGroupAssignment(r: ByteReader, what: string): TopicAssignment[] {
  const topics = r.array(true, `${what} topic_partitions`, 19, () => {
    r.uuid('topic_id');
    const topic = r.string(true, 'topic_name');
    const partitions = r.array(true, 'partitions', 4, () => r.int32('partition'));
    r.taggedFields('topic_partitions');
    return { topic, partitions };
  });
  r.taggedFields(what);
  return topics;
}

/** ConsumerGroupDescribe v0 response (Kafka 3.7+; KIP-848). */
export function decodeConsumerGroupDescribeV0(bytes: Uint8Array): RawConsumerGroup[] {
  const r = new ByteReader(bytes);
  r.int32('throttle_time_ms');
  const groups = r.array(true, 'groups', 20, () => {
    const group: RawConsumerGroup = {
      errorCode: r.int16('error_code'),
      errorMessage: r.nullableString(true, 'error_message'),
      groupId: r.string(true, 'group_id'),
      state: r.string(true, 'group_state'),
      groupEpoch: r.int32('group_epoch'),
      assignmentEpoch: r.int32('assignment_epoch'),
      assignor: r.string(true, 'assignor_name'),
      members: r.array(true, 'members', 14, () => {
        const member = {
          memberId: r.string(true, 'member_id'),
          instanceId: r.nullableString(true, 'instance_id'),
          rackId: r.nullableString(true, 'rack_id'),
          memberEpoch: r.int32('member_epoch'),
          clientId: r.string(true, 'client_id'),
          clientHost: r.string(true, 'client_host'),
          subscribedTopics: r.array(true, 'subscribed_topic_names', 1, () => r.string(true, 'topic')),
          subscribedTopicRegex: r.nullableString(true, 'subscribed_topic_regex'),
          assignment: consumerGroupAssignment(r, 'assignment'),
          targetAssignment: consumerGroupAssignment(r, 'target_assignment'),
        };
        r.taggedFields('member');
        return member;
      }),
    };
    r.int32('authorized_operations');
    r.taggedFields('group');
    return group;
  });
  r.taggedFields('response');
  return groups;
}

/** Highest ConsumerProtocol version whose layout this decoder knows (Kafka 3.x/4.x write up to 3). */
const CONSUMER_PROTOCOL_MAX_VERSION = 3;

function consumerProtocolVersion(r: ByteReader, what: string): number {
  const version = r.int16(`${what} version`);
  if (version < 0) throw new KafkaDecodeError(`${what}: negative version ${version}`);
  // Newer versions only append fields, so a newer payload is read as the newest known one (as Kafka does).
  return Math.min(version, CONSUMER_PROTOCOL_MAX_VERSION);
}

function topicPartitionsV0(r: ByteReader, what: string): TopicAssignment[] {
  return r.array(false, what, 6, () => ({
    topic: r.string(false, 'topic'),
    partitions: r.array(false, 'partitions', 4, () => r.int32('partition')),
  }));
}

/** What a classic consumer member subscribed to (ConsumerProtocolSubscription v0–v3). */
export interface ConsumerSubscription {
  version: number;
  topics: string[];
  ownedPartitions: TopicAssignment[];
  generationId: number;
  rackId: string | null;
}

/**
 * Decodes a classic consumer member's metadata (non-flexible: int16 string lengths, int32 array and byte
 * lengths). Empty bytes (no subscription sent yet) decode to `null`.
 */
export function decodeConsumerSubscription(bytes: Uint8Array): ConsumerSubscription | null {
  if (bytes.length === 0) return null;
  const r = new ByteReader(bytes);
  const version = consumerProtocolVersion(r, 'subscription');
  const topics = r.array(false, 'subscription topics', 2, () => r.string(false, 'topic'));
  r.nullableBytes(false, 'subscription user_data');
  // A payload that ends where a field of its version would start gets that field's default: some clients
  // stamp a newer version on the v0 layout (@platformatic/kafka 1.x writes version 1 without
  // owned_partitions). A payload that ends inside a field is still refused.
  const more = () => r.remaining > 0;
  const ownedPartitions = version >= 1 && more() ? topicPartitionsV0(r, 'owned_partitions') : [];
  const generationId = version >= 2 && more() ? r.int32('generation_id') : -1;
  const rackId = version >= 3 && more() ? r.nullableString(false, 'rack_id') : null;
  return { version, topics, ownedPartitions, generationId, rackId };
}

/**
 * Decodes a classic consumer member's assignment (ConsumerProtocolAssignment v0–v3). Empty bytes (a member
 * between join and sync) decode to no partitions.
 */
export function decodeConsumerAssignment(bytes: Uint8Array): TopicAssignment[] {
  if (bytes.length === 0) return [];
  const r = new ByteReader(bytes);
  consumerProtocolVersion(r, 'assignment');
  const assigned = topicPartitionsV0(r, 'assigned_partitions');
  // The assignor's user data (Kafka Streams' AssignmentInfo, the sticky assignor's generation, …) is opaque.
  r.nullableBytes(false, 'assignment user_data');
  return assigned;
}

/** Minimal writer for the encodings above: request bodies here and test fixtures. */
export class ByteWriter {
  readonly #chunks: Buffer[] = [];

  int8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(value);
    return this.raw(b);
  }

  int16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    return this.raw(b);
  }

  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    return this.raw(b);
  }

  uvarint(value: number): this {
    const out: number[] = [];
    let rest = value;
    while (rest >= 0x80) {
      out.push((rest & 0x7f) | 0x80);
      rest = Math.floor(rest / 128);
    }
    out.push(rest);
    return this.raw(Buffer.from(out));
  }

  raw(bytes: Uint8Array): this {
    this.#chunks.push(Buffer.from(bytes));
    return this;
  }

  string(value: string | null, compact: boolean): this {
    if (value === null) return compact ? this.uvarint(0) : this.int16(-1);
    const b = Buffer.from(value, 'utf8');
    (compact ? this.uvarint(b.length + 1) : this.int16(b.length)).raw(b);
    return this;
  }

  bytes(value: Uint8Array | null, compact: boolean): this {
    if (value === null) return compact ? this.uvarint(0) : this.int32(-1);
    return (compact ? this.uvarint(value.length + 1) : this.int32(value.length)).raw(value);
  }

  array<T>(items: readonly T[], compact: boolean, write: (item: T) => void): this {
    if (compact) this.uvarint(items.length + 1);
    else this.int32(items.length);
    for (const item of items) write(item);
    return this;
  }

  /** An empty tagged-field section. */
  tags(): this {
    return this.uvarint(0);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
