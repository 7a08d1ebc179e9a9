import type { Logger } from 'pino';
import { failAttemptOfUncaught } from './job-runner.js';
import type { RuntimeMetrics } from './metrics.js';

/**
 * Installs the process-level guard against exceptions no try/catch reaches; returns its uninstaller.
 *
 * A client library that throws inside its own socket or timer callback bypasses every try/catch of the
 * adapter. Such an exception carries the async context of the job attempt that set the callback up: that
 * attempt is failed with SDR_ERR_ADAPTER_CRASHED (its adapter sees the abort and closes its clients), and the
 * other jobs, the tunnel and the queue go on.
 *
 * One that cannot be traced to a running attempt (thrown from a microtask, or from the runtime's own code)
 * is logged and counted, and the runtime keeps running: the exception has unwound one callback only, every
 * long-lived part (tunnel, queue worker, health server) has its own error handling and reconnects, and the
 * liveness probe reports a daemon that is really wedged. Exiting instead would cut every running job and the
 * tunnel for what is almost always one library callback.
 */
export function installCrashGuard(log: Logger, metrics: RuntimeMetrics): () => void {
  const onUncaught = (error: Error) => {
    const failedJob = failAttemptOfUncaught(error);
    metrics.uncaughtExceptions.inc({ failed_job: failedJob ? 'yes' : 'no' });
    if (failedJob) {
      log.error(
        { err: error, code: 'SDR_ERR_ADAPTER_CRASHED' },
        'an adapter threw inside a callback; its job failed, the runtime keeps running',
      );
    } else {
      log.error({ err: error }, 'uncaught exception outside any running job; the runtime keeps running');
    }
  };
  process.on('uncaughtException', onUncaught);
  return () => process.off('uncaughtException', onUncaught);
}
