import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reverse proxy in front of an HTTP storage emulator that can hold requests matching a predicate
 * (never answering them), so a test can freeze a runtime mid-upload and kill it there.
 */
export class HoldProxy {
  hold: ((request: IncomingMessage) => boolean) | undefined;
  readonly held: IncomingMessage[] = [];
  private waiters: (() => void)[] = [];
  private readonly pending = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
  ) {}

  static async start(upstream: string): Promise<HoldProxy> {
    const server = createServer();
    const proxy = new HoldProxy(server, new URL(upstream));
    server.on('request', (incoming, response) => proxy.forward(incoming, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once a request has been held. */
  async waitForHeld(timeoutMs = 60_000): Promise<IncomingMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.held.length === 0) {
      if (Date.now() > deadline) throw new Error('no request was held');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.held[0]!;
  }

  async close(): Promise<void> {
    for (const response of this.pending) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(incoming: IncomingMessage, response: ServerResponse): void {
    if (this.hold?.(incoming)) {
      this.held.push(incoming);
      this.pending.add(response);
      for (const wake of this.waiters.splice(0)) wake();
      return;
    }
    const outgoing = request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    outgoing.on('error', () => response.destroy());
    incoming.pipe(outgoing);
  }
}
