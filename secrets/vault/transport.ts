import { type Dispatcher, request } from 'undici';
import { isDeadline, withDeadline } from '../../common/index.js';
import { ownDispatcherFor } from '../../storage/dispatchers.js';
import { noAnswerReason } from '../../storage/http-agents.js';

/** What node-vault hands its request function: the method, the full URI, headers and a JSON body. */
interface VaultRequest {
  method: string;
  uri: string;
  headers?: Record<string, string>;
  json?: unknown;
}

/** What node-vault expects back (the shape of the `request` library's full response). */
interface VaultResponse {
  statusCode: number;
  body: unknown;
  request: { path: string };
}

/** A request that got no answer in time; its message is the one-line reason, naming the proxy if any. */
export class VaultNoAnswer extends Error {
  override readonly name = 'VaultNoAnswer';
}

/** node-vault's pluggable request function (its `request-promise` option) and the dispatcher to close. */
export interface VaultTransport {
  readonly requestPromise: { defaults: () => (options: VaultRequest) => Promise<VaultResponse> };
  close(): Promise<void>;
}

/**
 * node-vault's HTTP transport, replaced: its axios client honours HTTPS_PROXY on its own and ignores its
 * timeout while a proxy sits on the CONNECT, so a proxy that accepts and never answers hung every secret
 * read. Here every request (login, lookup, read, renewal) goes through the one proxy decision
 * (storage/http-agents.ts) and ends within `timeoutMs`, CONNECT and body included.
 */
export function vaultTransport(address: string, ca: string | undefined, timeoutMs: number): VaultTransport {
  // A few sockets are plenty: reads of one job are few and the resolver shares concurrent lookups.
  const dispatcher: Dispatcher = ownDispatcherFor(
    address,
    { ...(ca !== undefined && { ca }), rejectUnauthorized: true },
    4,
    timeoutMs,
  );
  const send = async (options: VaultRequest): Promise<VaultResponse> => {
    const signal = withDeadline(timeoutMs);
    try {
      const response = await request(options.uri, {
        method: options.method,
        dispatcher,
        signal,
        headers: {
          ...options.headers,
          ...(options.json !== undefined && { 'content-type': 'application/json' }),
        },
        ...(options.json !== undefined && { body: JSON.stringify(options.json) }),
      });
      const text = await response.body.text();
      return {
        statusCode: response.statusCode,
        body: parseBody(text),
        request: { path: pathOf(options.uri) },
      };
    } catch (error) {
      if (signal.aborted && isDeadline(signal.reason))
        throw new VaultNoAnswer(noAnswerReason(address, timeoutMs));
      throw error;
    }
  };
  return {
    requestPromise: { defaults: () => send },
    close: async () => {
      await dispatcher.close().catch(() => undefined);
    },
  };
}

/** Vault answers JSON; an empty body (204) or a proxy's HTML error page is kept as it is, like axios did. */
function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function pathOf(uri: string): string {
  try {
    return new URL(uri).pathname;
  } catch {
    return uri;
  }
}
