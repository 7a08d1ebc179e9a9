import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig, SETTING_NAMES } from '../../runtime/config.js';

const minimal = {
  SDR_CLOUD_URL: 'wss://cloud.example.com/v1/tunnel',
  SDR_AGENT_TOKEN: 'token-value',
  SDR_CLOUD_PUBLIC_KEY: 'MCowBQYDK2VwAyEA',
};

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    compileConfig(env);
  } catch (error) {
    expect((error as { code: string }).code).toBe('SDR_ERR_CONFIG_INVALID');
    return (error as Error).message.split('\n');
  }
  throw new Error('expected the config to be refused');
}

describe('compileConfig', () => {
  it('fills every default from three required settings and freezes the result', () => {
    const config = compileConfig(minimal);
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      concurrency: 5,
      maxFrameBytes: 4 * 1024 * 1024,
      drainTimeoutMs: 30_000,
      reconnectMaxMs: 60_000,
      health: { enabled: true, host: '127.0.0.1', port: 9464 },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names each missing required variable on its own line', () => {
    const problems = problemsOf({});
    expect(problems.some((line) => line.startsWith('SDR_CLOUD_URL: required'))).toBe(true);
    expect(problems.some((line) => line.startsWith('SDR_AGENT_TOKEN: required'))).toBe(true);
    expect(problems.some((line) => line.startsWith('SDR_CLOUD_PUBLIC_KEY: required'))).toBe(true);
  });

  it.each([
    ['SDR_CONCURRENCY', 'many', 'SDR_CONCURRENCY: expected a whole number'],
    ['SDR_CONCURRENCY', '0', 'SDR_CONCURRENCY: expected at least 1'],
    ['SDR_REDIS_URL', 'http://x', 'SDR_REDIS_URL: expected a redis:// or rediss:// URL'],
    ['SDR_HEALTH_ENABLED', 'maybe', 'SDR_HEALTH_ENABLED: expected true or false'],
    ['SDR_CLOUD_URL', 'https://cloud', 'SDR_CLOUD_URL: expected a ws:// or wss:// URL'],
    // 0 used to mean "no timeout": a silent proxy then hung every secret read.
    ['SDR_VAULT_TIMEOUT_MS', '0', 'SDR_VAULT_TIMEOUT_MS: expected at least 100'],
    ['SDR_GCP_SM_TIMEOUT_MS', '0', 'SDR_GCP_SM_TIMEOUT_MS: expected at least 100'],
  ])('refuses %s=%s with a line naming it', (name, value, line) => {
    expect(problemsOf({ ...minimal, [name]: value })).toContain(line);
  });

  it('refuses plain ws:// unless explicitly allowed for local development', () => {
    const insecure = { ...minimal, SDR_CLOUD_URL: 'ws://127.0.0.1:8787/v1/tunnel' };
    expect(problemsOf(insecure)[0]).toMatch(/^SDR_CLOUD_URL: plain ws:\/\/ is refused/);
    expect(compileConfig({ ...insecure, SDR_ALLOW_INSECURE_TUNNEL: 'true' }).allowInsecureTunnel).toBe(true);
  });

  it('reads the token and key from files (Docker and Kubernetes secrets) and a YAML config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-config-'));
    writeFileSync(join(dir, 'token'), 'from-file\n');
    writeFileSync(join(dir, 'key.pem'), 'KEY\n');
    writeFileSync(join(dir, 'sdr.yaml'), 'SDR_CONCURRENCY: 9\nSDR_QUEUE_NAME: from-file\n');
    const config = compileConfig({
      SDR_CLOUD_URL: minimal.SDR_CLOUD_URL,
      SDR_AGENT_TOKEN_FILE: join(dir, 'token'),
      SDR_CLOUD_PUBLIC_KEY_FILE: join(dir, 'key.pem'),
      SDR_CONFIG_FILE: join(dir, 'sdr.yaml'),
      SDR_QUEUE_NAME: 'env-wins',
    });
    expect(config).toMatchObject({
      agentToken: 'from-file',
      cloudPublicKeyPem: 'KEY',
      concurrency: 9,
      queueName: 'env-wins',
    });
    expect(
      problemsOf({ ...minimal, SDR_AGENT_TOKEN: undefined, SDR_AGENT_TOKEN_FILE: join(dir, 'missing') }),
    ).toEqual([
      `SDR_AGENT_TOKEN_FILE: ${join(dir, 'missing')} does not exist — mount the Docker/Kubernetes secret there or correct the path`,
    ]);
  });

  it('lists exactly the settings that .env.example and the README document', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const inExample = [...example.matchAll(/^#?\s*(SDR_[A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(new Set(inExample)).toEqual(new Set(SETTING_NAMES));
    for (const name of SETTING_NAMES) expect(readme).toContain(`\`${name}\``);
  });
});

describe('secret store settings', () => {
  it('compiles Vault settings into the runtime config and reports their problems with the rest', () => {
    const config = compileConfig({
      ...minimal,
      SDR_VAULT_ADDR: 'http://127.0.0.1:8200',
      SDR_VAULT_TOKEN: 't',
    });
    expect(config.secretProviders.vault).toBeDefined();
    expect(
      problemsOf({
        ...minimal,
        SDR_VAULT_ADDR: 'http://vault:8200',
        SDR_VAULT_AUTH_METHOD: 'approle',
        SDR_CONCURRENCY: 'x',
      }).join('\n'),
    ).toMatch(/SDR_CONCURRENCY[\s\S]*SDR_VAULT_ROLE_ID_FILE/);
  });
});

describe('names that are not settings', () => {
  it('refuses an unknown SDR_* variable, naming the closest known one', () => {
    expect(problemsOf({ ...minimal, SDR_REDIS_URI: 'redis://x' })).toEqual([
      'SDR_REDIS_URI: unknown variable — did you mean SDR_REDIS_URL? (the settings are listed in .env.example)',
    ]);
    expect(problemsOf({ ...minimal, SDR_HEALTH_PROT: '1' })[0]).toContain('did you mean SDR_HEALTH_PORT?');
    expect(problemsOf({ ...minimal, SDR_SOMETHING_ELSE_ENTIRELY: '1' })[0]).toBe(
      'SDR_SOMETHING_ELSE_ENTIRELY: unknown variable (the settings are listed in .env.example)',
    );
  });

  it('refuses an unknown key in SDR_CONFIG_FILE the same way', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-config-'));
    writeFileSync(join(dir, 'sdr.yaml'), 'SDR_CONCURENCY: 9\n');
    expect(problemsOf({ ...minimal, SDR_CONFIG_FILE: join(dir, 'sdr.yaml') })[0]).toMatch(
      /^SDR_CONCURENCY: unknown key in SDR_CONFIG_FILE .* did you mean SDR_CONCURRENCY\?/,
    );
  });

  it('accepts the _FILE form of every setting, the test-only prefixes and names env:// references use', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-config-'));
    const connections = join(dir, 'connections.yaml');
    writeFileSync(
      connections,
      'connections:\n  - {name: pg, type: postgres, secrets: {password: "env://SDR_PG_PASSWORD"}}\n',
    );
    const redisUrlFile = join(dir, 'redis-url');
    writeFileSync(redisUrlFile, 'redis://127.0.0.1:6379\n');
    expect(() =>
      compileConfig({
        ...minimal,
        SDR_REDIS_URL_FILE: redisUrlFile,
        SDR_TEST_PEERS: 'redis',
        SDR_PEER_DIR: '/tmp/peers',
        SDR_BENCH_TABLES: '10',
        SDR_COMPOSE_REDIS_IMAGE: 'registry.example/redis:7',
        SDR_CONNECTIONS_FILE: connections,
        SDR_PG_PASSWORD: 'secret',
        SDR_AWS_SM_REGION: 'eu-west-1',
        SDR_AWS_SM_ACCESS_KEY_ID_REF: 'env://SDR_AWS_KEY',
        SDR_AWS_SM_SECRET_ACCESS_KEY_REF: 'env://SDR_AWS_SECRET',
        SDR_AWS_KEY: 'k',
        SDR_AWS_SECRET: 's',
      }),
    ).not.toThrow();
  });

  it('names the _FILE variable when a path is given where the key or token belongs', () => {
    expect(problemsOf({ ...minimal, SDR_CLOUD_PUBLIC_KEY: '/run/secrets/sdr-cloud-key.pem' })).toEqual([
      'SDR_CLOUD_PUBLIC_KEY: holds a file path (/run/secrets/sdr-cloud-key.pem), not the value itself; set SDR_CLOUD_PUBLIC_KEY_FILE=/run/secrets/sdr-cloud-key.pem instead',
    ]);
    expect(problemsOf({ ...minimal, SDR_AGENT_TOKEN: './token.txt' })[0]).toContain(
      'set SDR_AGENT_TOKEN_FILE=./token.txt instead',
    );
  });

  it('parses booleans with one grammar everywhere', () => {
    const config = compileConfig({ ...minimal, SDR_HEALTH_ENABLED: 'yes', SDR_AWS_SM_ENABLED: 'yes' });
    expect(config.health.enabled).toBe(true);
    expect(config.secretProviders.aws).toEqual({});
    expect(problemsOf({ ...minimal, SDR_AWS_SM_ENABLED: 'maybe' })).toEqual([
      'SDR_AWS_SM_ENABLED: expected true or false',
    ]);
  });

  it('needs no cloud settings for a local command', () => {
    expect(compileConfig({}, { scope: 'local' })).toMatchObject({ cloudUrl: '', agentToken: '' });
  });
});
