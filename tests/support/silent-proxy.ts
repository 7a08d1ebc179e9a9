import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';

/**
 * A "proxy" that accepts every TCP connection and never answers anything, not even the CONNECT: what a
 * filtering proxy that silently drops hosts it does not allow looks like to a client.
 */
export class SilentProxy {
  /** Connections accepted so far: proof that a client went through the proxy, not direct. */
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<SilentProxy> {
    const server = createServer();
    const proxy = new SilentProxy(server);
    server.on('connection', (socket) => {
      proxy.connections += 1;
      proxy.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
