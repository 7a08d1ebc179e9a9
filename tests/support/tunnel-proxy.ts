import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';

/** One proxied TCP connection: the runtime's side and the cloud's side. */
interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 between runtimes and the cloud's tunnel port, for link faults: drop every
 * connection (a reset), blackhole (bytes stop in both directions while the sockets stay open, as when a
 * firewall silently drops packets), and a slow uplink (runtime → cloud bytes paced to a rate).
 */
export class TunnelProxy {
  private readonly pairs = new Set<Pair>();
  private blackholed = false;
  private uplinkBytesPerSecond: number | undefined;
  /** Connections the proxy accepted so far (each reconnect of a runtime is one more). */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(targetUrl: string): Promise<TunnelProxy> {
    const url = new URL(targetUrl);
    const server = createServer();
    const proxy = new TunnelProxy(server, { host: url.hostname, port: Number(url.port) });
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `targetUrl` with this proxy's port: the tunnel URL runtimes are given. */
  urlFor(targetUrl: string): string {
    const url = new URL(targetUrl);
    url.port = String(this.port);
    return url.toString();
  }

  /** Resets every open connection; returns how many there were. */
  dropAll(): number {
    const count = this.pairs.size;
    for (const pair of this.pairs) this.destroy(pair);
    return count;
  }

  /** Starts (true) or ends (false) a blackhole; bytes held meanwhile flow again when it ends. */
  blackhole(on: boolean): void {
    this.blackholed = on;
    for (const pair of this.pairs) {
      if (on) {
        pair.client.pause();
        pair.upstream.pause();
      } else {
        pair.client.resume();
        pair.upstream.resume();
      }
    }
  }

  /** Paces runtime → cloud bytes to `bytesPerSecond` (undefined: full speed) on new and open connections. */
  slowUplink(bytesPerSecond: number | undefined): void {
    this.uplinkBytesPerSecond = bytesPerSecond;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const upstream = connect(this.target);
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.on('error', () => this.destroy(pair));
    upstream.on('error', () => this.destroy(pair));
    client.on('close', () => this.destroy(pair));
    upstream.on('close', () => this.destroy(pair));
    if (this.blackholed) {
      client.pause();
      upstream.pause();
    }
    upstream.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => {
      if (!this.blackholed) upstream.resume();
    });
    this.pipeUplink(pair);
  }

  /** Runtime → cloud, in slices of at most a tenth of a second's worth when the uplink is slow. */
  private pipeUplink(pair: Pair): void {
    const { client, upstream } = pair;
    const queue: Buffer[] = [];
    let sending = false;
    const pump = async (): Promise<void> => {
      if (sending) return;
      sending = true;
      try {
        while (queue.length > 0 && !client.destroyed) {
          while (this.blackholed && !client.destroyed)
            await new Promise((resolve) => setTimeout(resolve, 50));
          const rate = this.uplinkBytesPerSecond;
          let chunk = queue.shift()!;
          if (rate !== undefined) {
            const slice = Math.max(1, Math.floor(rate / 10));
            if (chunk.length > slice) {
              queue.unshift(chunk.subarray(slice));
              chunk = chunk.subarray(0, slice);
            }
            await new Promise((resolve) => setTimeout(resolve, (chunk.length / rate) * 1_000));
          }
          if (!upstream.write(chunk)) await new Promise((resolve) => upstream.once('drain', resolve));
        }
      } finally {
        sending = false;
      }
      if (queue.length === 0 && !this.blackholed) client.resume();
    };
    client.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      // Backpressure towards the runtime: it sees a slow link, not an unbounded buffer.
      client.pause();
      void pump();
    });
  }

  private destroy(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
