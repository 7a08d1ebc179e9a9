/** Creates the bench data set once: topics with partitions and consumer groups with committed offsets. */
import { Admin, metadataV12, Producer, stringSerializers } from '@platformatic/kafka';

/** Shape of the generated data; names are `bench-tNNNNN` and `bench-gNNNN`. */
export interface BenchShape {
  topics: number;
  partitions: number;
  groups: number;
  /** Topics each group has committed offsets on (every partition of each). */
  topicsPerGroup: number;
}

/** The target: 5,000 topics × 6 partitions and 500 consumer groups. */
export const DEFAULT_SHAPE: BenchShape = { topics: 5000, partitions: 6, groups: 500, topicsPerGroup: 3 };

const topicName = (i: number) => `bench-t${String(i).padStart(5, '0')}`;
const groupName = (i: number) => `bench-g${String(i).padStart(4, '0')}`;

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Creates whatever part of the data set is missing; returns how long that took. */
export async function ensureBenchData(bootstrap: string[], shape: BenchShape): Promise<{ seconds: number }> {
  const started = performance.now();
  const admin = new Admin({
    clientId: 'sdr-bench-setup',
    bootstrapBrokers: bootstrap,
    timeout: 120_000,
    requestTimeout: 120_000,
  });
  try {
    let missing: string[] = [];
    let created = false;
    // Topic creation is asynchronous on the controller; list again until every topic is there.
    for (let attempt = 0; attempt < 5; attempt++) {
      // Admin.listTopics drops topics on large clusters with this client version; ask Metadata directly.
      const [connection] = (await admin.connectToBrokers()).values();
      const metadata = await metadataV12.api.async(connection!, null, false, false);
      const existing = new Set(metadata.topics.map((t) => t.name));
      missing = Array.from({ length: shape.topics }, (_, i) => topicName(i)).filter((t) => !existing.has(t));
      if (missing.length === 0) break;
      created = true;
      console.error(`bench: creating ${missing.length} topics × ${shape.partitions} partitions`);
      for (let i = 0; i < missing.length; i += 50) {
        await admin
          .createTopics({ topics: missing.slice(i, i + 50), partitions: shape.partitions, replicas: 1 })
          .catch((error: unknown) => {
            if (!JSON.stringify(error, Object.getOwnPropertyNames(error)).includes('TOPIC_ALREADY_EXISTS')) {
              console.error(`bench: createTopics: ${(error as Error).message}`);
            }
          });
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    if (missing.length > 0) throw new Error(`bench: ${missing.length} topics could not be created`);
    if (created) {
      // A few records in the first topics so watermarks, record counts and lag are not all zero.
      const producer = new Producer({
        clientId: 'sdr-bench-producer',
        bootstrapBrokers: bootstrap,
        serializers: stringSerializers,
      });
      const messages = [];
      for (let t = 0; t < Math.min(shape.topics, 200); t++) {
        for (let p = 0; p < shape.partitions; p++)
          messages.push({ topic: topicName(t), partition: p, key: 'k', value: 'v' });
      }
      // One topic per send: larger multi-leader batches trip a response-parsing bug in the client's producer.
      for (let i = 0; i < messages.length; i += shape.partitions) {
        await producer.send({ messages: messages.slice(i, i + shape.partitions) });
      }
      await producer.close();
    }
    const groups = new Set((await admin.listGroups()).keys());
    const missingGroups = Array.from({ length: shape.groups }, (_, i) => i).filter(
      (i) => !groups.has(groupName(i)),
    );
    if (missingGroups.length > 0)
      console.error(`bench: committing offsets for ${missingGroups.length} consumer groups`);
    await inParallel(missingGroups, 8, async (g) => {
      const topics = Array.from({ length: shape.topicsPerGroup }, (_, k) =>
        topicName((g * shape.topicsPerGroup + k) % shape.topics),
      );
      await admin.alterConsumerGroupOffsets({
        groupId: groupName(g),
        topics: topics.map((name) => ({
          name,
          partitionOffsets: Array.from({ length: shape.partitions }, (_, partition) => ({
            partition,
            offset: 0n,
          })),
        })),
      });
    });
  } finally {
    await admin.close();
  }
  return { seconds: (performance.now() - started) / 1000 };
}
