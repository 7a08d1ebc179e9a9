import { compileConfig, isConfigError } from './config.js';
import { installCrashGuard } from './crash-guard.js';
import { Daemon } from './daemon.js';
import { LogForwarder } from './log-forwarder.js';
import { createLogger } from './logger.js';

/** Entry point: compile config once, start the daemon, drain on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let daemon: Daemon;
  let log;
  let drainTimeoutMs = 30_000;
  try {
    const config = compileConfig();
    drainTimeoutMs = config.drainTimeoutMs;
    const forwarder = new LogForwarder(config.logForwardLevel);
    log = createLogger(config.logLevel, undefined, [forwarder]);
    const fatalLog = log;
    daemon = new Daemon(config, log, {
      logForwarder: forwarder,
      // A refusal no restart fixes (protocol version, evicting Redis): one line, exit 78, no reconnect loop.
      onFatal: (error) => {
        process.stderr.write(`sdr: ${error.message}\n`);
        fatalLog.flush?.();
        process.exit(78);
      },
    });
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
    // The drain is bounded by SDR_DRAIN_TIMEOUT_MS; this backstop holds even if a close hangs.
    setTimeout(() => {
      log.error({ signal }, 'drain did not finish in time; exiting');
      process.exit(1);
    }, drainTimeoutMs + 5_000).unref();
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
  installCrashGuard(log, daemon.metrics);
  try {
    await daemon.start();
  } catch (error) {
    if (isConfigError(error)) {
      process.stderr.write(`sdr: ${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`sdr: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
