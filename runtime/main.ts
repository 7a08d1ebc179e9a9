import { runDaemon } from './start.js';

/** The daemon's entry point, as the image runs it (`node dist/runtime/main.js`); same as `sdr start`. */
runDaemon().catch((error: unknown) => {
  process.stderr.write(`sdr: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
