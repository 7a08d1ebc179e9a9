/**
 * compose.yaml demo profile, step 2 (runs in the demo-tools container, Node 22 strips the types): registers
 * the demo agent with the reference cloud once, and leaves its token and the cloud's public key in the demo
 * volume, where the runtime reads them through SDR_AGENT_TOKEN_FILE and SDR_CLOUD_PUBLIC_KEY_FILE.
 */
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

const cloud = 'https://cloud:8787';

async function main(): Promise<void> {
  if (existsSync('/demo/agent-token')) {
    console.log('demo-agent: already registered');
    return;
  }
  const admin = readFileSync('/var/lib/sdr-cloud/admin-token', 'utf8').trim();
  const response = await fetch(`${cloud}/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'compose-demo' }),
  });
  if (response.status !== 201)
    throw new Error(`POST /v1/agents answered ${response.status}: ${await response.text()}`);
  const { agentId, token } = (await response.json()) as { agentId: string; token: string };
  const { publicKey } = (await (await fetch(`${cloud}/v1/public-key`)).json()) as { publicKey: string };
  writeFileSync('/demo/cloud-public-key.pem', publicKey, { mode: 0o644 });
  writeFileSync('/demo/agent-id', `${agentId}\n`, { mode: 0o644 });
  // The runtime runs as uid 1000; nobody else needs the token.
  writeFileSync('/demo/agent-token', `${token}\n`, { mode: 0o600 });
  chownSync('/demo/agent-token', 1000, 1000);
  console.log(`demo-agent: registered agent ${agentId}`);
}

main().catch((error: unknown) => {
  console.error(`demo-agent: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
