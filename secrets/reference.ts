import { Codes } from '../protocol/index.js';
import type { SecretReference } from './types.js';

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/;

/** Parses `scheme://path[?version=v][#key]`; throws `SDR_ERR_SECRET_REF_INVALID`. */
export function parseSecretReference(raw: string): SecretReference {
  const match = SCHEME.exec(raw);
  if (!match)
    throw new Codes.SDR_ERR_SECRET_REF_INVALID(raw, 'expected scheme://path, e.g. env://PG_PASSWORD');
  const scheme = match[1] as string;
  let rest = match[2] as string;
  let key: string | undefined;
  let version: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    key = decodeURIComponent(rest.slice(hash + 1));
    rest = rest.slice(0, hash);
    if (key === '') throw new Codes.SDR_ERR_SECRET_REF_INVALID(raw, 'empty key after #');
  }
  const query = rest.indexOf('?');
  if (query >= 0) {
    const params = new URLSearchParams(rest.slice(query + 1));
    rest = rest.slice(0, query);
    for (const name of params.keys()) {
      if (name !== 'version') throw new Codes.SDR_ERR_SECRET_REF_INVALID(raw, `unknown parameter "${name}"`);
    }
    version = params.get('version') ?? undefined;
  }
  if (rest === '') throw new Codes.SDR_ERR_SECRET_REF_INVALID(raw, 'empty path');
  return {
    raw,
    scheme,
    path: rest,
    ...(key === undefined ? {} : { key }),
    ...(version === undefined ? {} : { version }),
  };
}

/** Picks `#key` out of a JSON secret, or returns the whole value when no key is asked for. */
export function selectKey(reference: SecretReference, value: string): string {
  if (reference.key === undefined) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Codes.SDR_ERR_SECRET_NOT_FOUND(
      reference.raw,
      `#${reference.key} asked for, but the secret is not JSON`,
    );
  }
  const picked =
    typeof parsed === 'object' && parsed !== null
      ? (parsed as Record<string, unknown>)[reference.key]
      : undefined;
  if (picked === undefined || picked === null) {
    throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `the secret has no key "${reference.key}"`);
  }
  return typeof picked === 'string' ? picked : JSON.stringify(picked);
}
