/**
 * `npm run cloud`: runs the reference cloud from environment settings (see docs/cloud.md) until SIGINT or
 * SIGTERM.
 */
import { pino } from 'pino';
import { describeError } from '../protocol/index.js';
import type { StoreOptions } from '../storage/index.js';
import { loadCloudConfig } from './config.js';
import { type Cloud, createCloud } from './index.js';

function fail(error: unknown): never {
  const { code, message } = describeError(error, 'SDR_ERR_CONFIG_INVALID');
  process.stderr.write(`${code}: ${message.replace(/\s*\n\s*/g, '; ')}\n`);
  process.exit(1);
}

/** A reader as the start banner names it (never its credentials). */
function describeReader(reader: StoreOptions): string {
  switch (reader.provider) {
    case 's3':
      return `s3://${reader.bucket}${reader.endpoint ? ` at ${reader.endpoint}` : ''}`;
    case 'azure':
      return `${reader.accountUrl.replace(/\/+$/, '')}/${reader.container}`;
    case 'gcs':
      return `gs://${reader.bucket}${reader.endpoint ? ` at ${reader.endpoint}` : ''}`;
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadCloudConfig(process.env);
  } catch (error) {
    fail(error);
  }
  const logger = pino({ name: 'sdr-cloud', level: config.logLevel });
  let cloud: Cloud;
  try {
    cloud = await createCloud({
      host: config.host,
      port: config.port,
      dataDir: config.dataDir,
      adminToken: config.adminToken,
      tls: config.tls,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      reconcileIntervalMs: config.reconcileIntervalMs,
      creditWindow: config.creditWindow,
      maxFrameBytes: config.maxFrameBytes,
      ackDelayMs: config.ackDelayMs,
      bucketReaders: config.bucketReaders,
      logger,
      // A long-running cloud must not keep every frame in memory; only tests inspect them.
      recordFrames: false,
    });
  } catch (error) {
    fail(error);
  }
  process.stdout.write(
    [
      `sdr cloud listening on ${cloud.url}`,
      `tunnel:      ${cloud.tunnelUrl}`,
      `admin token: ${cloud.adminToken}`,
      `public key:  ${cloud.publicKeyPath}`,
      `buckets:     ${config.bucketReaders.map(describeReader).join(', ') || 'none (bucket delivery is refused)'}`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    cloud.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await main();
