import { Codes, type SdrError } from '../protocol/index.js';

/** OpenSSL/Node codes of a certificate the runtime does not trust (or that names another host). */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Turns a socket-level failure of the tunnel (or of `sdr check`'s probe) into the catalogued error that
 * names the fix; undefined when the failure says nothing the user can act on beyond "retrying".
 */
export function explainTunnelError(url: string, error: Error & { code?: string }): SdrError | undefined {
  const code = error.code ?? '';
  const host = safeHost(url);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new Codes.SDR_ERR_TUNNEL_ENDPOINT(url, `the host ${host} does not resolve (${code})`, {
      cause: error,
    });
  }
  if (
    url.startsWith('wss://') &&
    (code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
      code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
      /wrong version number|packet length too long|http request/i.test(error.message))
  ) {
    return new Codes.SDR_ERR_TUNNEL_NOT_TLS(url, { cause: error });
  }
  if (UNTRUSTED_CERTIFICATE.has(code) || /certificate/i.test(error.message)) {
    return new Codes.SDR_ERR_TUNNEL_TLS(url, `${code || 'TLS'}: ${error.message}`, { cause: error });
  }
  return undefined;
}

/** The catalogued error for a non-101 answer to the WebSocket upgrade. */
export function explainUpgradeStatus(url: string, status: number): SdrError {
  if (status === 401 || status === 403) return new Codes.SDR_ERR_TUNNEL_AUTH(url, status);
  if (status === 404) return new Codes.SDR_ERR_TUNNEL_ENDPOINT(url, 'HTTP 404 on the WebSocket upgrade');
  return new Codes.SDR_ERR_TUNNEL_ENDPOINT(
    url,
    `HTTP ${status} instead of a WebSocket upgrade; a proxy may strip the Upgrade header`,
  );
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
