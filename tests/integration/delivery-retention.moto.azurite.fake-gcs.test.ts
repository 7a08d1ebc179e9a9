/**
 * The optional retention sweep (docs/delivery.md, "Retention") against the storage emulators of
 * tests/peers (moto, Azurite, fake-gcs-server): results older than `retentionDays` are deleted, only under
 * `<prefix>/<agentId>/`, and nothing at all when `retentionDays` is unset (the default).
 * Peers: SDR_TEST_PEERS=moto,azurite,fake-gcs.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { storeOptionsFor, sweepRetention } from '../../runtime/delivery/index.js';
import { type BucketSettings, bucketSettingsSchema } from '../../runtime/delivery/settings.js';
import { type ObjectStore, openStore } from '../../storage/index.js';
import { peers } from '../peers/endpoints.js';

const run = randomBytes(3).toString('hex');
const name = `sdr-retention-${run}`;
const DAY_MS = 86_400_000;
const silent = pino({ level: 'silent' });

/** Each emulator's bucket settings as a connections file would give them, and the resolved credentials. */
const cases: [string, Record<string, unknown>, Record<string, string>][] = [
  [
    's3',
    { provider: 's3', bucket: name, endpoint: peers.motoUrl, forcePathStyle: true, prefix: 'results' },
    { accessKeyId: 'sdr-test', secretAccessKey: 'sdr-test' },
  ],
  [
    'azure',
    {
      provider: 'azure',
      accountUrl: peers.azurite.accountUrl,
      container: name,
      prefix: 'results',
      credentials: { accountName: peers.azurite.accountName, accountKey: 'env://UNUSED' },
    },
    { accountKey: peers.azurite.accountKey },
  ],
  [
    'gcs',
    { provider: 'gcs', bucket: name, endpoint: peers.gcsUrl, projectId: 'sdr-test', prefix: 'results' },
    {},
  ],
];

beforeAll(async () => {
  await new S3Client({
    region: 'us-east-1',
    endpoint: peers.motoUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'sdr-test', secretAccessKey: 'sdr-test' },
  }).send(new CreateBucketCommand({ Bucket: name }));
  await new BlobServiceClient(
    peers.azurite.accountUrl,
    new StorageSharedKeyCredential(peers.azurite.accountName, peers.azurite.accountKey),
  )
    .getContainerClient(name)
    .create();
  const created = await fetch(`${peers.gcsUrl}/storage/v1/b?project=sdr-test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(created.status).toBe(200);
}, 60_000);

async function keys(store: ObjectStore, prefix: string): Promise<Map<string, Date>> {
  const found = new Map<string, Date>();
  for await (const object of store.list(prefix)) found.set(object.key, object.lastModified);
  return found;
}

async function put(store: ObjectStore, names: readonly string[]): Promise<void> {
  for (const key of names) await store.put(key, Buffer.from(`{"key":"${key}"}\n`), 'application/json');
}

describe.each(cases)('retention sweep (%s)', (provider, settings, credentials) => {
  // Own agent ids per provider run: the three stores never share a key.
  const agent = `agent-${provider}-${run}`;
  const old = [`results/${agent}/job-1/1/part-00000.jsonl.gz`, `results/${agent}/job-1/1/manifest.json`];
  const untouchable = [
    `results/other-${agent}/job-2/1/manifest.json`, // another agent's results
    `results/${agent}x/job-3/1/manifest.json`, // a longer agent id that starts with this one
    `elsewhere/${agent}/job-4/1/manifest.json`, // another prefix
    `${agent}/job-5/1/manifest.json`, // the bucket's root
  ];
  const fresh = [`results/${agent}/job-6/1/manifest.json`];
  let store: ObjectStore;

  it('deletes nothing when retentionDays is unset (the default), however old the results', async () => {
    const bucket: BucketSettings = bucketSettingsSchema.parse(settings);
    expect(bucket.retentionDays).toBeUndefined();
    store = await openStore(storeOptionsFor(bucket, credentials, 8 * 1024 * 1024));
    await put(store, [...old, ...untouchable]);
    const deleted = await sweepRetention(bucket, credentials, agent, silent, Date.now() + 3_650 * DAY_MS);
    expect(deleted).toBe(0);
    expect([...(await keys(store, `results/${agent}/`)).keys()].sort()).toEqual([...old].sort());
  }, 60_000);

  it("deletes this agent's results older than N days under its prefix, and nothing else", async () => {
    const bucket = bucketSettingsSchema.parse({ ...settings, retentionDays: 7 });
    const written = await keys(store, `results/${agent}/`);
    const newestOld = Math.max(...[...written.values()].map((date) => date.getTime()));
    // Stores keep whole seconds at best: the fresh results must be stamped in a later second.
    const deadline = Date.now() + 10_000;
    while (Date.now() < newestOld + 2_000) {
      if (Date.now() > deadline)
        throw new Error(`the clock did not pass ${new Date(newestOld).toISOString()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await put(store, fresh);
    const stamped = (await keys(store, fresh[0]!)).get(fresh[0]!);
    expect(stamped!.getTime()).toBeGreaterThan(newestOld);
    // The sweep runs N days after the fresh results were written: everything before them is past N days.
    const deleted = await sweepRetention(bucket, credentials, agent, silent, stamped!.getTime() + 7 * DAY_MS);
    expect(deleted).toBe(old.length);
    expect([...(await keys(store, `results/${agent}/`)).keys()]).toEqual(fresh);
    for (const key of untouchable) expect((await keys(store, key)).has(key), key).toBe(true);
    // A second sweep at the same moment finds nothing more to delete.
    expect(await sweepRetention(bucket, credentials, agent, silent, stamped!.getTime() + 7 * DAY_MS)).toBe(0);
  }, 60_000);
});
