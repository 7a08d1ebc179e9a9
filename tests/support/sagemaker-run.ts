/** Runs the SageMaker adapter the way the runtime does and captures records, warnings and log lines. */
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import type { AdapterContext, MetadataRecord, SourceConnection } from '../../adapters/types.js';

/** Everything one run produced. */
export interface SagemakerRun {
  records: MetadataRecord[];
  warnings: string[];
  logs: { level: string; message: string; fields: Record<string, unknown> }[];
}

/** A capturing context; `signal` defaults to one that never aborts. */
export function captureContext(
  signal: AbortSignal = new AbortController().signal,
): AdapterContext & SagemakerRun {
  const records: MetadataRecord[] = [];
  const warnings: string[] = [];
  const logs: SagemakerRun['logs'] = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      logs.push({ level, message, fields });
    };
  return {
    signal,
    records,
    warnings,
    logs,
    warn: (message) => warnings.push(message),
    log: { debug: log('debug'), info: log('info'), warn: log('warn') },
  };
}

/** A `sagemaker` connection as the runtime would hand it over. */
export function sagemakerConnection(
  options: Record<string, unknown>,
  credentials: Record<string, string> = {},
): SourceConnection {
  return { name: 'sm-test', type: 'sagemaker', options, credentials };
}

/** Extracts everything the options select; throws what the adapter throws. */
export async function runSagemaker(
  connection: SourceConnection,
  rawOptions: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<SagemakerRun> {
  const adapter = createSagemakerAdapter();
  const context = captureContext(signal);
  const options = adapter.parseOptions(rawOptions, connection.name);
  for await (const record of adapter.extract(connection, options, context)) context.records.push(record);
  return { records: context.records, warnings: context.warnings, logs: context.logs };
}
