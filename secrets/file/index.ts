import { readFile } from 'node:fs/promises';
import { Codes } from '../../protocol/index.js';
import { selectKey } from '../reference.js';
import type { SecretProvider, SecretReference } from '../types.js';

/**
 * `file:///run/secrets/pg[#key]`: a mounted Docker or Kubernetes secret file. One trailing newline is
 * dropped, since `echo secret > file` and most secret mounts add one.
 */
export function createFileSecretProvider(): SecretProvider {
  return {
    scheme: 'file',
    async resolve(reference: SecretReference, signal?: AbortSignal): Promise<string> {
      let text: string;
      try {
        text = await readFile(reference.path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, 'no such file', { cause });
        if (code === 'EACCES' || code === 'EPERM') {
          throw new Codes.SDR_ERR_SECRET_DENIED(reference.raw, 'the runtime user cannot read the file', {
            cause,
          });
        }
        throw new Codes.SDR_ERR_SECRET_UNAVAILABLE(reference.raw, code ?? 'read failed', { cause });
      }
      return selectKey(reference, text.replace(/\r?\n$/, ''));
    },
  };
}
