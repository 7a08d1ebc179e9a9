import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** File names of the cloud's Ed25519 key pair inside its data directory. */
export const PRIVATE_KEY_FILE = 'signing-key.pem';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';

/** The cloud's request-signing identity. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  publicKeyPath: string;
}

/**
 * Loads the Ed25519 key pair from `dataDir`, generating it on first start. The private key file is
 * mode 0600; the public key is derived from it, so the two files can never disagree.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const privatePath = join(dataDir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dataDir, PUBLIC_KEY_FILE);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(privatePath, 'utf8'));
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new TypeError(`${privatePath} holds a ${privateKey.asymmetricKeyType ?? 'non-asymmetric'} key`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    privateKey = generateKeyPairSync('ed25519').privateKey;
    await writeFileAtomic(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  }
  // A key restored from a backup may carry a looser mode; the private key is for this process only.
  await chmod(privatePath, 0o600);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  await writeFileAtomic(publicKeyPath, publicKeyPem);
  return { privateKey, publicKeyPem, publicKeyPath };
}
