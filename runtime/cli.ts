#!/usr/bin/env node
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { compileConfig, isConfigError, type RuntimeConfig } from './config.js';
import { EXIT_CONFIG, exitWithConfigError, runDaemon } from './start.js';
import { RUNTIME_VERSION } from './version.js';

const USAGE = `sdr ${RUNTIME_VERSION} — the self-deployed metadata runtime

Usage:
  sdr start                      run the daemon (what the image runs; same as node dist/runtime/main.js)
  sdr check [--json]             preflight: configuration, cloud (DNS, TCP/proxy, TLS, token, public key),
                                 Redis (reachable, noeviction, persistence), every secret reference and
                                 every connection's check; exit 1 if any item fails
  sdr extract <connection> [--options JSON] [--out FILE]
                                 extract one connection locally to JSONL (no cloud, no Redis): exactly the
                                 lines a cloud job commits, with the same sha256
  sdr status [--json] [--url URL]
                                 tunnel, queue depth and running jobs, from the daemon's health port
  sdr --help | --version

Settings come from the environment (and SDR_CONFIG_FILE); see .env.example.
Exit codes: 0 ok, 1 a check or command failed, 2 usage error, 78 configuration error.
`;

class UsageError extends Error {}

function compile(scope: 'daemon' | 'local'): RuntimeConfig {
  try {
    return compileConfig(process.env, { scope });
  } catch (error) {
    if (isConfigError(error)) exitWithConfigError(error);
    throw error;
  }
}

async function check(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  let config: RuntimeConfig;
  try {
    config = compileConfig();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    const items = error.message.split('\n').map((line) => ({
      id: 'config',
      title: 'configuration',
      status: 'fail' as const,
      detail: line,
      code: error.code,
    }));
    if (values.json) process.stdout.write(`${JSON.stringify({ ok: false, items }, null, 2)}\n`);
    else for (const item of items) process.stdout.write(`FAIL  ${item.title}: ${item.detail}\n`);
    return EXIT_CONFIG;
  }
  const { runPreflight, formatItem } = await import('./preflight.js');
  const items = await runPreflight(config, { cloud: 'handshake' });
  const ok = items.every((item) => item.status !== 'fail');
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok, items }, null, 2)}\n`);
  } else {
    for (const item of items) process.stdout.write(`${formatItem(item)}\n`);
    const failedCount = items.filter((item) => item.status === 'fail').length;
    process.stdout.write(
      ok ? `\nall ${items.length} checks passed\n` : `\n${failedCount} of ${items.length} checks failed\n`,
    );
  }
  return ok ? 0 : 1;
}

function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`;
}

async function extract(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { options: { type: 'string', default: '{}' }, out: { type: 'string' } },
  });
  const [connection, ...extra] = positionals;
  if (!connection || extra.length > 0) throw new UsageError('sdr extract takes exactly one connection name');
  let options: unknown;
  try {
    options = JSON.parse(values.options);
  } catch (error) {
    throw new UsageError(`--options is not JSON: ${(error as Error).message}`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new UsageError('--options must be a JSON object, e.g. {"schemas":{"include":["sales"]}}');
  const config = compile('local');
  const { extractLocally } = await import('./local-extract.js');
  const out = values.out ? createWriteStream(values.out) : process.stdout;
  const tty = process.stderr.isTTY;
  let lastPlain = 0;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  try {
    const summary = await extractLocally(
      config,
      connection,
      options as Record<string, unknown>,
      out,
      (progress) => {
        const rate = progress.elapsedMs > 0 ? Math.round((progress.records * 1000) / progress.elapsedMs) : 0;
        const line = `${progress.records} objects · last kind ${progress.kind ?? '—'} · ${rate}/s · ${formatDuration(progress.elapsedMs)}`;
        if (tty) {
          process.stderr.write(`\r\x1b[2K${line}${progress.done ? '\n' : ''}`);
        } else if (progress.done || progress.elapsedMs - lastPlain >= 2_000) {
          lastPlain = progress.elapsedMs;
          process.stderr.write(`progress: ${line}\n`);
        }
      },
      { signal: controller.signal },
    );
    if (values.out) {
      out.end();
      await new Promise<void>((resolve, reject) => {
        out.once('finish', resolve);
        out.once('error', reject);
      });
    }
    for (const warning of summary.warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stderr.write(
      `wrote ${summary.records} records (${summary.bytes} bytes) to ${values.out ?? 'stdout'} in ${(summary.elapsedMs / 1000).toFixed(1)} s; sha256 ${summary.sha256}\n`,
    );
    return 0;
  } catch (error) {
    if (tty) process.stderr.write('\n');
    if (isConfigError(error)) exitWithConfigError(error);
    const code = (error as { code?: string }).code;
    process.stderr.write(`sdr: ${code ? `${code}: ` : ''}${(error as Error).message}\n`);
    return 1;
  }
}

async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, url: { type: 'string' } },
  });
  let base = values.url;
  if (!base) {
    const { health } = compile('local');
    if (!health.enabled) {
      process.stderr.write('sdr: the health server is off (SDR_HEALTH_ENABLED=false); status needs it\n');
      return 1;
    }
    // A wildcard bind is reached on loopback.
    const host = ['0.0.0.0', '::', ''].includes(health.host) ? '127.0.0.1' : health.host;
    base = `http://${host.includes(':') ? `[${host}]` : host}:${health.port}`;
  }
  let body: Record<string, unknown>;
  try {
    const response = await fetch(new URL('/status', base), { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    process.stderr.write(
      `sdr: no runtime answers at ${base}/status (${(error as Error).message}); is it running, and do SDR_HEALTH_HOST/SDR_HEALTH_PORT match its settings?\n`,
    );
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const tunnel = body.tunnel as { state: string; url: string; agentId: string | null };
  const queue = body.queue as Record<string, unknown>;
  const jobs = body.jobs as {
    requestId: string;
    connection: string;
    attempt: number;
    phase: string;
    records: number;
    batches: number;
    startedAt: string;
  }[];
  const lines = [
    `runtime  ${String(body.version)} (${String(body.state)})`,
    `tunnel   ${tunnel.state}${tunnel.agentId ? ` as ${tunnel.agentId}` : ''} → ${tunnel.url}`,
    `queue    ${String(queue.name)}: ${typeof queue.error === 'string' ? queue.error : `${String(queue.waiting)} waiting, ${String(queue.delayed)} delayed, ${String(queue.active)} active`}`,
    `jobs     ${jobs.length === 0 ? 'none running' : `${jobs.length} running`}`,
    ...jobs.map(
      (job) =>
        `  ${job.requestId}  ${job.connection}  attempt ${job.attempt}  ${job.phase}  ${job.records} records in ${job.batches} batches  since ${job.startedAt}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${RUNTIME_VERSION}\n`);
    return 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'start':
      if (rest.length > 0)
        throw new UsageError('sdr start takes no arguments; it reads its settings from the environment');
      await runDaemon();
      return -1;
    case 'check':
      return await check(rest);
    case 'extract':
      return await extract(rest);
    case 'status':
      return await status(rest);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // The daemon keeps running on its own; every other command ends here, whatever sockets a driver keeps.
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`sdr: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`sdr: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
