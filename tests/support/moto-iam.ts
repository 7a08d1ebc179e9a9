import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

/** An IAM access key moto issued. */
export interface IamKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * IAM on a moto of the test's own (tests/peers/moto-iam.sh). moto checks signatures and policies only
 * once told to (`POST /moto-api/reset-auth` with how many actions to let through unchecked), so the
 * test sets up users and buckets with enforcement off, then switches it on.
 */
export class MotoIam {
  private readonly signer = new SignatureV4({
    service: 'iam',
    region: 'us-east-1',
    // Any key works while enforcement is off, which is the only time users are created.
    credentials: { accessKeyId: 'setup', secretAccessKey: 'setup' },
    sha256: Hash.bind(null, 'sha256'),
  });

  constructor(readonly url: string) {}

  /** Switches enforcement on (every request checked) or off. */
  async enforce(on: boolean): Promise<void> {
    const answer = await fetch(`${this.url}/moto-api/reset-auth`, { method: 'POST', body: on ? '0' : 'inf' });
    if (!answer.ok) throw new Error(`moto reset-auth answered ${answer.status}: ${await answer.text()}`);
  }

  /** A user with one inline policy and an access key (enforcement must be off). */
  async user(name: string, statements: readonly object[]): Promise<IamKey> {
    await this.call({ Action: 'CreateUser', UserName: name });
    await this.call({
      Action: 'PutUserPolicy',
      UserName: name,
      PolicyName: `${name}-policy`,
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    });
    const answer = await this.call({ Action: 'CreateAccessKey', UserName: name });
    const field = (tag: string) => {
      const value = new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(answer)?.[1];
      if (!value) throw new Error(`CreateAccessKey answered without ${tag}`);
      return value;
    };
    return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey') };
  }

  // The IAM query API, signed (moto routes a request to IAM by its signature's credential scope).
  private async call(params: Record<string, string>): Promise<string> {
    const { hostname, port } = new URL(this.url);
    const body = new URLSearchParams({ Version: '2010-05-08', ...params }).toString();
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname,
      port: Number(port),
      path: '/',
      query: {},
      headers: { host: `${hostname}:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const answer = await fetch(`${this.url}/`, {
      method: 'POST',
      headers: signed.headers as Record<string, string>,
      body,
    });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`IAM ${params.Action} answered ${answer.status}: ${text.slice(0, 300)}`);
    return text;
  }
}
