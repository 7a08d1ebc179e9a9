import { compileConfig, isConfigError } from './config.js';
import { installCrashGuard } from './crash-guard.js';

/** Exit code for configuration the user must fix (EX_CONFIG from sysexits.h); compose shows it as-is. */
export const EXIT_CONFIG = 78;

/** Prints a configuration error one line per problem, without a stack, and exits 78. */
export function exitWithConfigError(error: Error): never {
  for (const line of error.message.split('\n')) process.stderr.write(`sdr: ${line}\n`);
  process.exit(EXIT_CONFIG);
}

/**
 * `sdr start` (and `node dist/runtime/main.js`): compile config once, start the daemon, drain on
 * SIGTERM/SIGINT. The daemon and its dependencies are imported only after the configuration compiled, so
 * a configuration error is printed without loading them.
 */
export async function runDaemon(): Promise<void> {
  let config;
  try {
    config = compileConfig();
  } catch (error) {
    if (isConfigError(error)) exitWithConfigError(error);
    throw error;
  }
  const [{ Daemon }, { LogForwarder }, { createLogger }] = await Promise.all([
    import('./daemon.js'),
    import('./log-forwarder.js'),
    import('./logger.js'),
  ]);
  const forwarder = new LogForwarder(config.logForwardLevel);
  const log = createLogger(config.logLevel, undefined, [forwarder]);
  let daemon: InstanceType<typeof Daemon>;
  try {
    daemon = new Daemon(config, log, {
      logForwarder: forwarder,
      // A refusal no restart fixes (protocol version, evicting Redis): one line, exit 78, no reconnect loop.
      onFatal: (error) => {
        process.stderr.write(`sdr: ${error.message}\n`);
        log.flush?.();
        process.exit(EXIT_CONFIG);
      },
    });
  } catch (error) {
    if (isConfigError(error)) exitWithConfigError(error);
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
    }, config.drainTimeoutMs + 5_000).unref();
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
      log.fatal({ code: error.code }, error.message);
      log.flush?.();
      exitWithConfigError(error);
    }
    throw error;
  }
}
