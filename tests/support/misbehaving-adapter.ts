/**
 * An adapter that misbehaves on request, for the job-isolation tests: it leaks until its heap is gone,
 * throws inside a timer callback (as a client library bug would), exits its thread, ignores abort,
 * produces numbered records while logging how many it has produced, or a record without a key; or it
 * names the thread it runs in and how many runs that thread has served, optionally keeping `retainMb` of
 * heap in module state afterwards (a leak that outlives its run).
 */
import { threadId } from 'node:worker_threads';
import { z } from 'zod';
import type { MetadataRecord, SourceAdapter } from '../../adapters/types.js';
import { Codes } from '../../protocol/index.js';

const optionsSchema = z
  .object({
    mode: z.enum(['records', 'oom', 'callback-throw', 'exit', 'ignore-abort', 'unkeyed', 'identify']),
    count: z.number().int().nonnegative().default(1_000),
    retainMb: z.number().int().nonnegative().default(0),
  })
  .strict();
type Options = z.infer<typeof optionsSchema>;

/** Module state of the thread: what an earlier run in the same worker left behind. */
let runsInThread = 0;
const retained: number[][] = [];

export function createMisbehavingAdapter(): SourceAdapter<Options> {
  return {
    type: 'misbehaving',
    parseOptions(raw, connection) {
      const parsed = optionsSchema.safeParse(raw);
      if (!parsed.success) throw new Codes.SDR_ERR_INVALID_OPTIONS(connection, parsed.error.message);
      return parsed.data;
    },
    check: async () => ({}),
    async *extract(connection, options, context): AsyncGenerator<MetadataRecord> {
      const record = (i: number): MetadataRecord => ({
        kind: 'test.item',
        key: `${connection.name}/${i}`,
        secretFree: connection.credentials.password === undefined,
      });
      switch (options.mode) {
        case 'records':
          for (let i = 0; i < options.count; i++) {
            if (i % 100 === 0) context.log.debug({ produced: i }, 'produced');
            yield record(i);
          }
          return;
        case 'oom': {
          yield record(0);
          const hoard: string[][] = [];
          for (;;) hoard.push(Array.from({ length: 100_000 }, (_, i) => `leak-${i}-${hoard.length}`));
        }
        case 'callback-throw':
          yield record(0);
          setTimeout(() => {
            throw new TypeError("Cannot read properties of undefined (reading '0')");
          }, 10);
          await new Promise(() => undefined);
          return;
        case 'exit':
          yield record(0);
          process.exit(3);
          return;
        case 'unkeyed':
          // A full chunk of multi-byte keys first (their UTF-8 length is not their length in characters).
          for (let i = 0; i < options.count; i++)
            yield { kind: 'test.item', key: `${connection.name}/größe ✓ 😀 ${i}` };
          yield { kind: 'test.item' } as unknown as MetadataRecord;
          return;
        case 'identify':
          runsInThread += 1;
          for (let mb = 0; mb < options.retainMb; mb++)
            retained.push(new Array<number>(131_072).fill(mb + 0.5)); // 1 MiB of doubles on the heap
          yield { kind: 'test.thread', key: `${connection.name}/${threadId}`, threadId, runsInThread };
          return;
        case 'ignore-abort':
          yield record(0);
          for (;;) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}
