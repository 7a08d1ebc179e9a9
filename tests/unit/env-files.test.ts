import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../runtime/config.js';
import { expandFileSettings } from '../../runtime/env-files.js';
import { parsePublicKey } from '../../protocol/index.js';

const KEY_PEM =
  '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA+YbCkBDzyfok4APMVZ1d2hrrc9YvLUf19G+Ube41SKc=\n-----END PUBLIC KEY-----';
const minimal = {
  SDR_CLOUD_URL: 'wss://cloud.example.com/v1/tunnel',
  SDR_AGENT_TOKEN: 'token',
  SDR_CLOUD_PUBLIC_KEY: KEY_PEM,
};

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    compileConfig(env);
  } catch (error) {
    return (error as Error).message.split('\n');
  }
  return [];
}

describe('settings given as files (SDR_X_FILE)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdr-env-files-'));
  writeFileSync(join(dir, 'redis-url'), 'redis://redis.internal:6380\n');
  writeFileSync(join(dir, 'key.pem'), `${KEY_PEM}\n`);

  it('reads any known setting from the file its _FILE variable names, and drops the _FILE variable', () => {
    const env = expandFileSettings({ SDR_REDIS_URL_FILE: join(dir, 'redis-url'), OTHER: 'x' }, [
      'SDR_REDIS_URL',
    ]);
    expect(env).toEqual({ SDR_REDIS_URL: 'redis://redis.internal:6380', OTHER: 'x' });
    const config = compileConfig({ ...minimal, SDR_REDIS_URL_FILE: join(dir, 'redis-url') });
    expect(config.redisUrl).toBe('redis://redis.internal:6380');
  });

  it('leaves path settings to their owner and ignores unknown names', () => {
    const env = { SDR_VAULT_TOKEN_FILE: '/run/secrets/vault', SDR_NOPE_FILE: '/x' };
    expect(expandFileSettings(env, ['SDR_VAULT_TOKEN', 'SDR_VAULT_TOKEN_FILE'])).toEqual(env);
  });

  it('names each unreadable file with the fix, and a setting given both ways', () => {
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    expect(
      problemsOf({
        ...minimal,
        SDR_REDIS_URL_FILE: join(dir, 'missing'),
        SDR_QUEUE_NAME_FILE: directory,
        SDR_AGENT_TOKEN_FILE: join(dir, 'redis-url'),
      }),
    ).toEqual([
      `SDR_REDIS_URL_FILE: ${join(dir, 'missing')} does not exist — mount the Docker/Kubernetes secret there or correct the path`,
      `SDR_QUEUE_NAME_FILE: ${directory} is a directory, not a file — Docker makes an empty directory when the file a volume or secret names does not exist on the host; create that file and recreate the container`,
      'SDR_AGENT_TOKEN: set both directly and as SDR_AGENT_TOKEN_FILE; keep one',
    ]);
  });
});

describe('the cloud public key as a .env file delivers it', () => {
  it('accepts a PEM whose line breaks are written as \\n', () => {
    expect(parsePublicKey(KEY_PEM.replaceAll('\n', '\\n')).asymmetricKeyType).toBe('ed25519');
  });

  it('explains a PEM cut to its first line (a multi-line value in .env) instead of a DECODER error', () => {
    expect(() => parsePublicKey('-----BEGIN PUBLIC KEY-----')).toThrow(
      /only the first line of a PEM arrived; .* with \\n between its lines, .* the _FILE variable/,
    );
  });
});
