import { compileConfig, isConfigError } from './config.js';
import { Daemon } from './daemon.js';
import { failAttemptOfUncaught } from './job-runner.js';
import { LogForwarder } from './log-forwarder.js';
import { createLogger } from './logger.js';

/** Entry point: compile config once, start the daemon, drain on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let daemon: Daemon;
  let log;
  try {
    const config = compileConfig();
    const forwarder = new LogForwarder(config.logForwardLevel);
    log = createLogger(config.logLevel, undefined, [forwarder]);
    daemon = new Daemon(config, log, { logForwarder: forwarder });
  } catch (error) {
    if (isConfigError(error)) {
      // A user error: one line per problem, no stack trace.
      for (const line of error.message.split('\n')) process.stderr.write(`sdr: ${line}\n`);
      process.exit(78);
    }
    throw error;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutdown requested');
    daemon.stop().then(
      () => process.exit(daemon.state === 'stopped' ? 0 : 1),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
  // A client library that throws inside its own socket or timer callback bypasses every try/catch of the
  // adapter. Such an exception carries the async context of the job that created the callback: that job is
  // failed with SDR_ERR_ADAPTER_CRASHED (its adapter aborts and closes its clients), and the other jobs, the
  // tunnel and the queue go on. One that cannot be traced to a running job is logged and the runtime keeps
  // running too: the exception has only unwound one callback, every long-lived part (tunnel, queue worker,
  // health server) has its own error handling and reconnects, and the liveness probe reports a daemon that
  // is really wedged. Exiting instead would cut every running job and the tunnel for one library callback.
  process.on('uncaughtException', (error) => {
    const failedJob = failAttemptOfUncaught(error);
    daemon.metrics.uncaughtExceptions.inc({ failed_job: failedJob ? 'yes' : 'no' });
    if (failedJob) {
      log.error(
        { err: error, code: 'SDR_ERR_ADAPTER_CRASHED' },
        'adapter crashed inside a callback; its job failed',
      );
      return;
    }
    log.error({ err: error }, 'uncaught exception outside any running job; the runtime keeps running');
  });
  await daemon.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`sdr: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
