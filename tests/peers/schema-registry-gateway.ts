// TLS + HTTP basic auth in front of the test Schema Registry (tests/peers/schema-registry.sh), the way a
// hosted registry puts an API key in front of its REST API. Test peer only: one user, loopback only.
import { request } from 'node:http';
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';

const env = process.env;
const expected = Buffer.from(
  `Basic ${Buffer.from(`${env.SDR_GATEWAY_USER}:${env.SDR_GATEWAY_PASSWORD}`).toString('base64')}`,
);
const server = createServer(
  { cert: readFileSync(env.SDR_GATEWAY_CERT ?? ''), key: readFileSync(env.SDR_GATEWAY_KEY ?? '') },
  (req, res) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Basic realm="schema-registry"',
      });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const upstream = request(
      {
        host: '127.0.0.1',
        port: Number(env.SDR_GATEWAY_BACKEND),
        method: req.method,
        path: req.url,
        headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 502, message: error.message }));
    });
    req.pipe(upstream);
  },
);
server.listen(Number(env.SDR_GATEWAY_PORT), '127.0.0.1');
