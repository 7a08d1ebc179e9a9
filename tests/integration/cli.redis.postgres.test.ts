/**
 * The `sdr` CLI against real peers: the reference cloud (in this process), Redis (the shared noeviction one
 * and tests/peers/redis-lru.sh's allkeys-lru one) and PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensurePeer,
  repoRoot,
  startLocalStack,
  cloudApi,
  waitForJob,
  type LocalStack,
} from '../../scripts/local-stack.js';
import { childProcessEnv } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { PgFixture } from '../support/pg-fixture.js';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sdr <args>` (the compiled CLI the global setup built, else the sources), with exactly `env` (plus PATH and HOME). */
function sdr(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        ...(process.env.SDR_TEST_CLI_ENTRY
          ? [process.env.SDR_TEST_CLI_ENTRY]
          : ['--import', 'tsx', 'runtime/cli.ts']),
        ...args,
      ],
      {
        cwd: repoRoot,
        env: { ...childProcessEnv(), ...env },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Item {
  id: string;
  status: string;
  detail: string;
  code?: string;
}

let fixture: PgFixture;
let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  await ensurePeer('redis-lru', Number(new URL(peers.redisLruUrl).port));
  fixture = await PgFixture.create('sdr_cli', 25);
  dir = mkdtempSync(join(tmpdir(), 'sdr-cli-'));
  stack = await startLocalStack({
    workDir: dir,
    connectionsYaml: fixture.connectionYaml(),
    runtimeEnv: fixture.secretEnv,
  });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await fixture?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sdr check', () => {
  it('passes every item of a good setup and says so in JSON', async () => {
    const run = await sdr(['check', '--json'], stack.runtimeEnv);
    const report = JSON.parse(run.stdout) as { ok: boolean; items: Item[] };
    expect(report.items.filter((item) => item.status === 'fail')).toEqual([]);
    expect(run.code).toBe(0);
    expect(report.ok).toBe(true);
    const byId = new Map(report.items.map((item) => [item.id, item]));
    expect(byId.get('cloud.handshake')?.detail).toContain(`agent ${stack.agentId}`);
    expect(byId.get('cloud.public-key')?.status).toBe('ok');
    expect(byId.get('redis.eviction')?.status).toBe('ok');
    // The shared test Redis runs without persistence: a warning, not a failure.
    expect(byId.get('redis.persistence')?.status).toBe('warn');
    expect(byId.get('secret.pg.password')?.status).toBe('ok');
    expect(byId.get('connection.pg')?.status).toBe('ok');
    expect(run.stdout).not.toContain(fixture.password);
  });

  it('prints one failing line with its fix for each mistake: token, Redis, secret, database password', async () => {
    const connections = join(dir, 'broken.yaml');
    writeFileSync(
      connections,
      [
        'connections:',
        `  - name: wrongpw`,
        '    type: postgres',
        `    host: ${peers.postgres.host}`,
        `    port: ${peers.postgres.port}`,
        `    database: ${fixture.database}`,
        '    secrets: { user: env://SDR_TEST_PG_USER, password: env://SDR_TEST_WRONG_PASSWORD }',
        '    options: { sslmode: disable }',
        `  - name: nosecret`,
        '    type: postgres',
        `    host: ${peers.postgres.host}`,
        '    secrets: { password: env://SDR_TEST_NEVER_SET }',
        `  - name: novault`,
        '    type: postgres',
        `    host: ${peers.postgres.host}`,
        '    secrets: { password: "vault://secret/pg#password" }',
        '',
      ].join('\n'),
    );
    const run = await sdr(['check'], {
      ...stack.runtimeEnv,
      SDR_AGENT_TOKEN: 'not-the-token',
      SDR_REDIS_URL: 'redis://127.0.0.1:1',
      SDR_CONNECTIONS_FILE: connections,
      SDR_TEST_WRONG_PASSWORD: 'wrong-password',
    });
    expect(run.code).toBe(1);
    const failing = run.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    const line = (pattern: RegExp) => failing.filter((text) => pattern.test(text));
    expect(
      line(/token and handshake.*refused the agent token \(HTTP 401\); check SDR_AGENT_TOKEN/),
    ).toHaveLength(1);
    expect(line(/Redis redis:\/\/127\.0\.0\.1:1.*unreachable.*check SDR_REDIS_URL/)).toHaveLength(1);
    expect(line(/secret password of "nosecret".*SDR_TEST_NEVER_SET/)).toHaveLength(1);
    expect(line(/secret password of "novault".*set SDR_VAULT_ADDR/)).toHaveLength(1);
    expect(line(/connection "wrongpw".*check the user and password/)).toHaveLength(1);
    expect(failing).toHaveLength(5);
    expect(run.stdout).toMatch(
      /skip {2}connection "nosecret" \(postgres\): not tried: its secrets do not resolve/,
    );
    expect(run.stdout).toContain('5 of');
    expect(run.stdout).not.toContain('wrong-password');
  });

  it('fails an LRU Redis naming noeviction', async () => {
    const run = await sdr(['check', '--json'], { ...stack.runtimeEnv, SDR_REDIS_URL: peers.redisLruUrl });
    const items = (JSON.parse(run.stdout) as { items: Item[] }).items;
    expect(run.code).toBe(1);
    expect(items.filter((item) => item.status === 'fail')).toEqual([
      expect.objectContaining({
        id: 'redis.eviction',
        code: 'SDR_ERR_REDIS_EVICTION',
        detail: expect.stringMatching(/maxmemory-policy allkeys-lru.*CONFIG SET maxmemory-policy noeviction/),
      }),
    ]);
  });

  it('fails a public key that is not the cloud’s', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const run = await sdr(['check', '--json'], { ...stack.runtimeEnv, SDR_CLOUD_PUBLIC_KEY: other });
    const items = (JSON.parse(run.stdout) as { items: Item[] }).items;
    expect(run.code).toBe(1);
    expect(items.filter((item) => item.status === 'fail')).toEqual([
      expect.objectContaining({
        id: 'cloud.public-key',
        detail: expect.stringContaining('SDR_CLOUD_PUBLIC_KEY differs from the key the cloud publishes'),
      }),
    ]);
  });

  it('prints configuration mistakes as failing items and exits 78', async () => {
    const run = await sdr(['check'], { ...stack.runtimeEnv, SDR_REDIS_URI: 'redis://x' });
    expect(run.code).toBe(78);
    expect(run.stdout).toContain(
      'FAIL  configuration: SDR_REDIS_URI: unknown variable — did you mean SDR_REDIS_URL?',
    );
  });
});

describe('sdr extract', () => {
  it('writes exactly the JSONL the cloud commits for the same connection (same sha256)', async () => {
    const { jobId } = await cloudApi<{ jobId: string }>(
      stack.cloud,
      'POST',
      `/v1/agents/${stack.agentId}/jobs`,
      {
        connection: 'pg',
        options: {},
      },
    );
    const job = await waitForJob(stack.cloud, jobId);
    expect(job.state).toBe('committed');
    const committed = readFileSync(job.result!.path);

    const out = join(dir, 'pg.jsonl');
    const run = await sdr(['extract', 'pg', '--options', '{}', '--out', out], {
      SDR_CONNECTIONS_FILE: stack.runtimeEnv.SDR_CONNECTIONS_FILE!,
      ...fixture.secretEnv,
    });
    expect(run.stderr).toContain(`sha256 ${job.result!.sha256}`);
    expect(run.code).toBe(0);
    const local = readFileSync(out);
    expect(createHash('sha256').update(local).digest('hex')).toBe(job.result!.sha256);
    expect(local.equals(committed)).toBe(true);
    // Not a TTY here: plain progress lines, ending with the total.
    expect(run.stderr).toMatch(/^progress: \d+ objects · last kind \w+ · \d+\/s · \d\d:\d\d$/m);
  });

  it('names an unknown connection and bad options', async () => {
    const env = { SDR_CONNECTIONS_FILE: stack.runtimeEnv.SDR_CONNECTIONS_FILE!, ...fixture.secretEnv };
    const unknown = await sdr(['extract', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('SDR_ERR_UNKNOWN_CONNECTION');
    const badJson = await sdr(['extract', 'pg', '--options', '{'], env);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('--options is not JSON');
  });
});

describe('sdr status', () => {
  it('shows the tunnel, the queue and running jobs from the health port', async () => {
    const line = await stack.runtime.waitForMessage('health server listening', 90_000);
    const url = String(line.url);
    const run = await sdr(['status', '--url', url], {});
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`tunnel +up as ${stack.agentId}`));
    expect(run.stdout).toMatch(/queue +sdr-\w+: \d+ waiting, \d+ delayed, \d+ active/);
    const json = JSON.parse((await sdr(['status', '--json', '--url', url], {})).stdout) as {
      tunnel: { state: string };
      jobs: unknown[];
    };
    expect(json.tunnel.state).toBe('up');
    expect(Array.isArray(json.jobs)).toBe(true);
  });

  it('says where it looked when nothing answers', async () => {
    const run = await sdr(['status', '--url', 'http://127.0.0.1:1'], {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no runtime answers at http://127.0.0.1:1/status');
  });
});

describe('sdr itself', () => {
  it('prints its version and usage', async () => {
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect((await sdr(['--version'], {})).stdout.trim()).toBe(version.version);
    const help = await sdr(['--help'], {});
    expect(help.code).toBe(0);
    for (const command of ['sdr start', 'sdr check', 'sdr extract', 'sdr status'])
      expect(help.stdout).toContain(command);
    const wrong = await sdr(['frobnicate'], {});
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('unknown command "frobnicate"');
  });
});
