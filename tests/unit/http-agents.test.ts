import { afterEach, describe, expect, it } from 'vitest';
import { noAnswerReason, proxyForMessage } from '../../storage/http-agents.js';

const saved = { ...process.env };
const PROXY_NAMES = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy'];

afterEach(() => {
  for (const name of PROXY_NAMES) delete process.env[name];
  Object.assign(process.env, saved);
});

function useProxy(proxy: string, noProxy = ''): void {
  for (const name of PROXY_NAMES) delete process.env[name];
  process.env.HTTPS_PROXY = proxy;
  if (noProxy !== '') process.env.NO_PROXY = noProxy;
}

describe('noAnswerReason', () => {
  it('names the host, the deadline, the proxy and both fixes on one line', () => {
    useProxy('http://proxy.corp.example:3128');
    expect(noAnswerReason('https://vault.internal:8200/v1/secret', 10_000)).toBe(
      'no answer from vault.internal:8200 within 10 s through the proxy http://proxy.corp.example:3128 ' +
        '(HTTPS_PROXY); check that the proxy allows CONNECT to vault.internal:8200, or list vault.internal in NO_PROXY',
    );
  });

  it('never repeats the proxy credentials', () => {
    useProxy('http://sdr-user:s3cret-proxy-pass@proxy.corp.example:3128');
    const reason = noAnswerReason('https://kv1.vault.azure.net', 2_500);
    expect(reason).toContain('http://proxy.corp.example:3128');
    expect(reason).toContain('within 2500 ms');
    expect(reason).not.toMatch(/s3cret|sdr-user/);
    expect(proxyForMessage('http://a:b@p:1')).toBe('http://p:1');
  });

  it('says only that the host did not answer when the request went direct (NO_PROXY)', () => {
    useProxy('http://proxy.corp.example:3128', '.internal');
    expect(noAnswerReason('https://vault.internal', 10_000)).toBe(
      'no answer from vault.internal:443 within 10 s',
    );
  });
});
