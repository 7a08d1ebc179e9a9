import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonDocumentWriter, writeFileAtomic } from '../../cloud/atomic-file.js';
import { PartialResult } from '../../cloud/partial-result.js';
import { loadOrCreateSigningKey } from '../../cloud/signing-key.js';
import { CloudStore, hashToken } from '../../cloud/store.js';
import { ResultDigest } from '../../protocol/index.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdr-cloud-store-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('atomic files', () => {
  it('writes with the given mode and leaves no temporary file', async () => {
    const path = join(dir, 'secret');
    await writeFileAtomic(path, 'one', 0o600);
    await writeFileAtomic(path, 'two', 0o600);
    expect(await readFile(path, 'utf8')).toBe('two');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['secret']);
  });

  it('coalesces a burst of saves into few writes that end with the last value', async () => {
    const errors: unknown[] = [];
    const writer = new JsonDocumentWriter((_path, error) => errors.push(error));
    const path = join(dir, 'doc.json');
    const saves = Array.from({ length: 100 }, (_, i) => writer.save(path, { i }));
    await Promise.all(saves);
    await writer.flush();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ i: 99 });
    expect(errors).toEqual([]);
  });

  it('reports a failed write instead of rejecting', async () => {
    const errors: string[] = [];
    const writer = new JsonDocumentWriter((path) => errors.push(path));
    await writer.save(join(dir, 'missing-dir', 'doc.json'), {});
    expect(errors).toEqual([join(dir, 'missing-dir', 'doc.json')]);
  });
});

describe('signing key', () => {
  it('is generated once with a 0600 private key file and reused', async () => {
    const first = await loadOrCreateSigningKey(dir);
    const second = await loadOrCreateSigningKey(dir);
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect((await stat(join(dir, 'signing-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(first.publicKeyPath, 'utf8')).toBe(first.publicKeyPem);
  });

  it('refuses a key file that is not Ed25519', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(join(dir, 'signing-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expect(loadOrCreateSigningKey(dir)).rejects.toThrow(/ec key/);
  });
});

describe('cloud store', () => {
  it('keeps only a digest of agent tokens and finds agents by token', async () => {
    const store = await CloudStore.open(dir, () => undefined);
    const { agent, token } = await store.addAgent('a');
    expect(agent.tokenSha256).toBe(hashToken(token));
    expect(store.agentByToken(token)?.agentId).toBe(agent.agentId);
    expect(store.agentByToken(`${token}x`)).toBeUndefined();
    const reopened = await CloudStore.open(dir, () => undefined);
    expect(reopened.agentByToken(token)?.name).toBe('a');
  });

  it('skips and reports a corrupt job file', async () => {
    const store = await CloudStore.open(dir, () => undefined);
    await writeFile(join(dir, 'jobs', 'broken.json'), '{"jobId":');
    await writeFile(join(dir, 'jobs', 'wrong.json'), '{"jobId":"x"}');
    const problems: string[] = [];
    const reopened = await CloudStore.open(dir, (message) => problems.push(message));
    expect(reopened.jobs.size).toBe(store.jobs.size);
    expect(problems).toHaveLength(2);
  });
});

describe('partial result', () => {
  it('hashes exactly the bytes it writes and renames them into results on commit', async () => {
    const store = await CloudStore.open(dir, () => undefined);
    const partial = await PartialResult.start(store.dataDir, 'job-1', 1);
    const records = [
      { kind: 'table', key: 'a', note: 'ünïcödé' },
      { kind: 'table', key: 'b' },
    ];
    await partial.append(records.slice(0, 1));
    await partial.append([]);
    await partial.append(records.slice(1));
    const digest = new ResultDigest();
    digest.update(records);
    expect(partial.sha256()).toBe(digest.hex());
    expect(partial.sha256()).toBe(partial.sha256());
    expect([partial.records, partial.batches]).toEqual([2, 3]);
    const file = await partial.commit();
    const text = await readFile(join(dir, file), 'utf8');
    expect(Buffer.byteLength(text)).toBe(partial.bytes);
    expect(await readdir(join(dir, 'attempts'))).toEqual([]);
  });
});
