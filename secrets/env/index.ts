import { Codes } from '../../protocol/index.js';
import { selectKey } from '../reference.js';
import type { SecretProvider, SecretReference } from '../types.js';

/** `env://NAME[#key]`: a variable of the runtime's own environment. */
export function createEnvSecretProvider(environment: NodeJS.ProcessEnv = process.env): SecretProvider {
  return {
    scheme: 'env',
    async resolve(reference: SecretReference): Promise<string> {
      const value = environment[reference.path];
      if (value === undefined || value === '') {
        throw new Codes.SDR_ERR_SECRET_NOT_FOUND(
          reference.raw,
          `environment variable ${reference.path} is not set`,
        );
      }
      return selectKey(reference, value);
    },
  };
}
