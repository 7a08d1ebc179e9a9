import { type KeyObject, createPublicKey, sign, verify } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { JobRequestBody, SignedJobRequest } from './frames.js';

/** The exact bytes a signature covers: RFC 8785 canonical JSON of the request without its signature. */
export function signingPayload(body: JobRequestBody): Buffer {
  const { requestId, agentId, connection, options, delivery, issuedAt, expiresAt } = body;
  const canonical = canonicalize({ requestId, agentId, connection, options, delivery, issuedAt, expiresAt });
  if (canonical === undefined) throw new TypeError('job request cannot be canonicalised');
  return Buffer.from(canonical, 'utf8');
}

/** Signs a request with the cloud's Ed25519 private key. */
export function signJobRequest(body: JobRequestBody, privateKey: KeyObject): SignedJobRequest {
  const signature = sign(null, signingPayload(body), privateKey).toString('base64');
  return { ...body, signature };
}

/** True when `request` carries a valid Ed25519 signature by `publicKey`; never throws on garbage. */
export function verifyJobRequest(request: SignedJobRequest, publicKey: KeyObject): boolean {
  try {
    return verify(null, signingPayload(request), publicKey, Buffer.from(request.signature, 'base64'));
  } catch {
    return false;
  }
}

/** Reads an Ed25519 public key given as PEM or as base64 of its DER SPKI form. */
export function parsePublicKey(text: string): KeyObject {
  // A .env file holds one line per variable, so a PEM may arrive with its line breaks written as \n.
  const trimmed = text.trim().replace(/\\n/g, '\n');
  if (/^-----BEGIN [A-Z ]+-----$/.test(trimmed)) {
    throw new TypeError(
      'only the first line of a PEM arrived; a .env file cannot hold a multi-line value: write the PEM on one line with \\n between its lines, give the base64 body alone, or put it in a file named by the _FILE variable',
    );
  }
  const key = trimmed.startsWith('-----BEGIN')
    ? createPublicKey(trimmed)
    : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `expected an Ed25519 public key, got ${key.asymmetricKeyType ?? 'a non-asymmetric key'}`,
    );
  }
  return key;
}
