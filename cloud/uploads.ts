import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Codes, MANIFEST_NAME, type UploadUrl, uploadUrlSchema } from '../protocol/index.js';

const objectName = uploadUrlSchema.shape.name;

/**
 * Pre-signed upload URLs of the reference cloud: `PUT /v1/uploads/<jobId>/<attempt>/<name>?expires=…&sig=…`,
 * one object each, HMAC-SHA256 over method, job, attempt, name and expiry with a key that never leaves
 * this process. Uploaded objects land in `uploads/<jobId>/<attempt>/` of the data directory.
 */
export class UploadGrants {
  private readonly key = randomBytes(32);
  /** Test hook: the next `failNext` PUTs answer `failStatus` without storing anything. */
  failNext = 0;
  failStatus = 503;
  /** Test hook: milliseconds each PUT waits before it is stored. */
  delayMs = 0;

  constructor(
    private readonly dataDir: string,
    private readonly baseUrl: () => string,
    /** Lifetime of a granted URL; a function so tests can shorten it. */
    readonly ttlMs: () => number,
  ) {}

  /** Signed URLs for `names` of one attempt. */
  grant(jobId: string, attempt: number, names: readonly string[]): UploadUrl[] {
    const expiresAt = Date.now() + this.ttlMs();
    return names
      .filter((name) => objectName.safeParse(name).success)
      .map((name) => {
        const path = `/v1/uploads/${encodeURIComponent(jobId)}/${attempt}/${name}`;
        const sig = this.sign(jobId, attempt, name, expiresAt);
        return {
          name,
          url: `${this.baseUrl()}${path}?expires=${expiresAt}&sig=${sig}`,
          expiresAt: new Date(expiresAt).toISOString(),
        };
      });
  }

  /** The URLs sent with a presigned request: the first part and the manifest of attempt 1. */
  initial(jobId: string): UploadUrl[] {
    return this.grant(jobId, 1, ['part-00000.jsonl.gz', MANIFEST_NAME]);
  }

  /** Verifies a PUT's signature and expiry (403 otherwise) and stores the body. */
  async store(
    params: { jobId: string; attempt: string; name: string; expires: string; sig: string },
    body: Buffer,
  ): Promise<void> {
    const attempt = Number(params.attempt);
    const expires = Number(params.expires);
    if (!Number.isInteger(attempt) || attempt < 1 || !objectName.safeParse(params.name).success) {
      throw new Codes.SDR_ERR_CLOUD_UPLOAD_REFUSED('not an upload URL this cloud granted');
    }
    const expected = Buffer.from(this.sign(params.jobId, attempt, params.name, expires));
    const given = Buffer.from(params.sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Codes.SDR_ERR_CLOUD_UPLOAD_REFUSED('signature does not match');
    }
    if (!(expires > Date.now())) throw new Codes.SDR_ERR_CLOUD_UPLOAD_REFUSED('the URL has expired');
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const dir = this.dirOf(params.jobId, attempt);
    await mkdir(dir, { recursive: true });
    const temporary = join(dir, `.${params.name}.${randomBytes(4).toString('hex')}`);
    await writeFile(temporary, body);
    await rename(temporary, join(dir, params.name));
  }

  /** Reads an uploaded object of an attempt. */
  read(jobId: string, attempt: number, name: string): Promise<Buffer> {
    if (!objectName.safeParse(name).success) throw new Error(`not an object name: ${name}`);
    return readFile(join(this.dirOf(jobId, attempt), name));
  }

  /** Removes every upload of a job (after commit, cancel or failure). */
  async discard(jobId: string): Promise<void> {
    await rm(join(this.dataDir, 'uploads', jobId), { recursive: true, force: true });
  }

  private dirOf(jobId: string, attempt: number): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(jobId))
      throw new Codes.SDR_ERR_CLOUD_UPLOAD_REFUSED('not an upload URL this cloud granted');
    return join(this.dataDir, 'uploads', jobId, String(attempt));
  }

  private sign(jobId: string, attempt: number, name: string, expires: number): string {
    return createHmac('sha256', this.key)
      .update(`PUT\n${jobId}\n${attempt}\n${name}\n${expires}`)
      .digest('base64url');
  }
}
