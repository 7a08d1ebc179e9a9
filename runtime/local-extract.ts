import { once } from 'node:events';
import { ADAPTER_TYPES, loadAdapters } from '../adapters/index.js';
import { Codes, recordLine, ResultDigest } from '../protocol/index.js';
import {
  builtInSecretProviders,
  configuredSecretSchemes,
  assertReferenceResolvable,
  SecretResolver,
} from '../secrets/index.js';
import type { RuntimeConfig } from './config.js';
import { loadConnections, sourceConnectionOf } from './connections.js';
import { scrubSecrets } from './logger.js';

/** Progress of a local extraction, reported at most every `progressIntervalMs`. */
export interface ExtractProgress {
  records: number;
  bytes: number;
  /** Kind of the latest record (`table`, `topic`, …). */
  kind: string | undefined;
  elapsedMs: number;
  done: boolean;
}

/** What `sdr extract` wrote. */
export interface ExtractSummary {
  records: number;
  bytes: number;
  /** sha256 of the JSONL bytes: the same the cloud computes and commits for the same records. */
  sha256: string;
  warnings: string[];
  elapsedMs: number;
}

/**
 * One-shot extraction of one connection to JSONL, without cloud or Redis: exactly the lines a cloud job
 * would commit (`protocol/checksum.ts`'s `recordLine`), so a customer can audit what would leave.
 */
export async function extractLocally(
  config: RuntimeConfig,
  connectionName: string,
  rawOptions: Record<string, unknown>,
  out: NodeJS.WritableStream,
  onProgress: (progress: ExtractProgress) => void = () => undefined,
  options: { signal?: AbortSignal; progressIntervalMs?: number } = {},
): Promise<ExtractSummary> {
  const schemes = configuredSecretSchemes(config.secretProviders);
  const connections = loadConnections(config.connectionsFile, {
    adapterTypes: ADAPTER_TYPES,
    validateSecretReference: (reference) => assertReferenceResolvable(reference, schemes),
  });
  const definition = connections.get(connectionName);
  if (!definition) throw new Codes.SDR_ERR_UNKNOWN_CONNECTION(connectionName);
  const [adapter] = await loadAdapters([definition.type]);
  if (!adapter) throw new Codes.SDR_ERR_UNSUPPORTED_SOURCE(definition.type, ADAPTER_TYPES.join(', '));
  const parsedOptions = adapter.parseOptions(rawOptions, definition.name);
  const secrets = new SecretResolver(await builtInSecretProviders(config.secretProviders), 0);
  const started = Date.now();
  const signal = options.signal ?? new AbortController().signal;
  const interval = options.progressIntervalMs ?? 250;
  let credentials: Record<string, string> = {};
  try {
    credentials = await secrets.resolveAll(definition.secrets, signal);
    const warnings: string[] = [];
    const digest = new ResultDigest();
    let bytes = 0;
    let kind: string | undefined;
    let lastReport = 0;
    const records = adapter.extract(sourceConnectionOf(definition, credentials), parsedOptions, {
      signal,
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
      warn: (message) => warnings.push(message),
    });
    for await (const record of records) {
      if (signal.aborted) throw signal.reason;
      const line = recordLine(record);
      digest.updateLine(line);
      bytes += Buffer.byteLength(line);
      kind = record.kind;
      // Respect the writer's pace, as the tunnel's credit window does for cloud jobs.
      if (!out.write(line)) await once(out, 'drain');
      const now = Date.now();
      if (now - lastReport >= interval) {
        lastReport = now;
        onProgress({ records: digest.records, bytes, kind, elapsedMs: now - started, done: false });
      }
    }
    const elapsedMs = Date.now() - started;
    onProgress({ records: digest.records, bytes, kind, elapsedMs, done: true });
    return { records: digest.records, bytes, sha256: digest.hex(), warnings, elapsedMs };
  } catch (error) {
    if (error instanceof Error) error.message = scrubSecrets(error.message, Object.values(credentials));
    throw error;
  } finally {
    await secrets.close().catch(() => undefined);
  }
}
