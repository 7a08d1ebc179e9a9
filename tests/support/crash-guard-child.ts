/**
 * Child process for tests/integration/runtime-crash-guard.test.ts: the runtime's crash guard as main.ts
 * installs it, one attempt whose adapter throws inside a timer callback (as @platformatic/kafka 1.35's
 * describeGroups did inside a socket callback), one healthy attempt running beside it, and one exception
 * thrown outside any attempt. Prints one JSON line with what happened, then exits 0 if it is still alive.
 */
import pino from 'pino';
import type { AdapterContext, MetadataRecord, SourceAdapter } from '../../adapters/types.js';
import { SdrError } from '../../protocol/index.js';
import { installCrashGuard } from '../../runtime/crash-guard.js';
import { JobAttempt, type JobRunnerDeps } from '../../runtime/job-runner.js';
import { RuntimeMetrics } from '../../runtime/metrics.js';
import { runnerDeps } from './runner-deps.js';

const seen: { crashySignalAborted?: boolean; healthySignalAborted?: boolean } = {};
let crashyContext: AdapterContext | undefined;
let healthyContext: AdapterContext | undefined;
let releaseHealthy: () => void = () => undefined;

function adapter(
  type: string,
  extract: (context: AdapterContext) => AsyncIterable<MetadataRecord>,
): SourceAdapter<unknown> {
  return {
    type,
    parseOptions: () => ({}),
    check: async () => ({}),
    extract: (_c, _o, context) => extract(context),
  };
}

const crashy = adapter('crashy', async function* (context) {
  crashyContext = context;
  yield { kind: 'test.record', key: 'first' };
  // A library's callback that throws before it ever settles the promise the adapter awaits.
  await new Promise<void>(() => {
    setTimeout(() => {
      const members = undefined as unknown as number[];
      return members[0];
    }, 20);
  });
});
const healthy = adapter('healthy', async function* (context) {
  healthyContext = context;
  await new Promise<void>((resolve) => (releaseHealthy = resolve));
  yield { kind: 'test.record', key: 'after-the-crash' };
});

const log = pino({ level: 'silent' });
const metrics = new RuntimeMetrics();
installCrashGuard(log, metrics);
const deps = (): JobRunnerDeps => runnerDeps({ crashy, healthy }, { log, metrics });

const healthyAttempt = new JobAttempt(
  deps(),
  { requestId: 'healthy-job', connection: 'healthy', options: {} },
  1,
);
const healthyRun = healthyAttempt.run().catch((error: unknown) => error);
const crashyRun = new JobAttempt(deps(), { requestId: 'crashy-job', connection: 'crashy', options: {} }, 1)
  .run()
  .then(
    () => ({ code: 'resolved' }),
    (error: unknown) => ({
      code: error instanceof SdrError ? error.code : String(error),
      message: (error as Error).message,
    }),
  );
const crash = await crashyRun;
seen.crashySignalAborted = crashyContext?.signal.aborted;
seen.healthySignalAborted = healthyContext?.signal.aborted;

// Outside any attempt: logged and counted, the process stays up.
setTimeout(() => {
  throw new Error('thrown by the runtime itself');
}, 0);
await new Promise((resolve) => setTimeout(resolve, 50));

// The healthy attempt is still running; stopping it proves it was never failed by the other one's crash.
releaseHealthy();
healthyAttempt.stop('cancelled');
const healthyEnd = (await healthyRun) as Error;
const counted = (await metrics.uncaughtExceptions.get()).values.map((v) => ({
  failedJob: v.labels.failed_job,
  count: v.value,
}));
process.stdout.write(`${JSON.stringify({ crash, seen, healthyEnd: healthyEnd.name, counted })}\n`);
process.exit(0);
