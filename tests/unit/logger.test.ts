import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl, scrubSecrets } from '../../runtime/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger('info', stream), lines };
}

describe('logger', () => {
  it('censors credential-bearing fields wherever they sit', () => {
    const { log, lines } = capture();
    log.info(
      {
        credentials: { password: 'canary-1' },
        connection: { password: 'canary-2', token: 'canary-3' },
        headers: { authorization: 'Bearer canary-4' },
      },
      'connecting',
    );
    const text = lines.join('');
    for (const canary of ['canary-1', 'canary-2', 'canary-3', 'canary-4']) expect(text).not.toContain(canary);
    expect(JSON.parse(text)).toMatchObject({ credentials: '[redacted]', msg: 'connecting', level: 'info' });
  });

  it('scrubs secret values out of messages that leave the process', () => {
    expect(scrubSecrets('password authentication failed for "s3cret!" at db', ['s3cret!', 'abc'])).toBe(
      'password authentication failed for "[redacted]" at db',
    );
  });

  it('drops the password from URLs it logs', () => {
    expect(redactUrl('redis://user:hunter22@redis:6379/0')).toBe('redis://user:redacted@redis:6379/0');
  });
});

describe('logger redaction by key name', () => {
  it('censors secretAccessKey, sslkey, clientSecret and kin in any case, at any depth', () => {
    const { log, lines } = capture();
    log.info(
      {
        aws: { secretAccessKey: 'canary-1', accessKeyId: 'AKIAEXAMPLE', SessionToken: 'canary-2' },
        tls: [{ sslkey: 'canary-3', SSLKEY: 'canary-4' }],
        azure: { client_secret: 'canary-5', ClientSecret: 'canary-6' },
        headers: { 'X-Api-Key': 'canary-7' },
        db_password: 'canary-8',
        secrets: { password: 'env://PG_PASSWORD' },
      },
      'connecting',
    );
    const text = lines.join('');
    for (let i = 1; i <= 8; i += 1) expect(text).not.toContain(`canary-${i}`);
    // Identifiers and secret references are not secrets and stay readable.
    expect(text).toContain('AKIAEXAMPLE');
    expect(JSON.parse(text)).toMatchObject({ aws: { secretAccessKey: '[redacted]' } });
  });
});
