// Demo profile, step 2: registers the demo agent with the reference cloud once, and keeps its token and
// the cloud's public key in the demo volume, where the runtime reads them through *_FILE settings.
import { chmodSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

const cloud = 'https://cloud:8787';
if (existsSync('/demo/agent-token')) {
  console.log('demo-agent: already registered');
  process.exit(0);
}
const admin = readFileSync('/var/lib/sdr-cloud/admin-token', 'utf8').trim();
const response = await fetch(`${cloud}/v1/agents`, {
  method: 'POST',
  headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'compose-demo' }),
});
if (response.status !== 201)
  throw new Error(`POST /v1/agents answered ${response.status}: ${await response.text()}`);
const { agentId, token } = await response.json();
const { publicKey } = await (await fetch(`${cloud}/v1/public-key`)).json();
writeFileSync('/demo/cloud-public-key.pem', publicKey, { mode: 0o644 });
writeFileSync('/demo/agent-id', `${agentId}\n`, { mode: 0o644 });
writeFileSync('/demo/agent-token', `${token}\n`, { mode: 0o600 });
chownSync('/demo/agent-token', 1000, 1000);
chmodSync('/demo/agent-token', 0o600);
console.log(`demo-agent: registered agent ${agentId}`);
