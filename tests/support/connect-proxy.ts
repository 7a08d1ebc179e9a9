import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A minimal HTTP CONNECT proxy on 127.0.0.1 that records which targets it tunnelled to. */
export class ConnectProxy {
  readonly targets: string[] = [];
  private readonly sockets = new Set<Socket | Duplex>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<ConnectProxy> {
    const server = createServer((_request, response) => response.writeHead(405).end());
    const proxy = new ConnectProxy(server);
    server.on('connect', (request, client: Duplex, head) => {
      proxy.sockets.add(client);
      const target = request.url ?? '';
      proxy.targets.push(target);
      const [host, port] = target.split(':');
      let established = false;
      const upstream = connect(Number(port), host, () => {
        established = true;
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      proxy.sockets.add(upstream);
      // As a real proxy answers a CONNECT to a host it cannot reach (unknown name, refused port).
      upstream.on('error', () =>
        established ? client.destroy() : client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'),
      );
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    // Tunnelled sockets are no longer HTTP connections, so closeAllConnections does not see them.
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
