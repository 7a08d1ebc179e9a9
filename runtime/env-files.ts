import { readFileSync } from 'node:fs';
import { Codes } from '../protocol/index.js';

const FILE_SUFFIX = '_FILE';

/** One line naming a setting's file that cannot be read, and what to do about it. */
export function describeUnreadableFile(variable: string, path: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'EISDIR') {
    return `${variable}: ${path} is a directory, not a file — Docker makes an empty directory when the file a volume or secret names does not exist on the host; create that file and recreate the container`;
  }
  if (error.code === 'ENOENT') {
    return `${variable}: ${path} does not exist — mount the Docker/Kubernetes secret there or correct the path`;
  }
  return `${variable}: cannot read ${path} (${error.code ?? 'error'}) — the runtime runs as uid ${process.getuid?.() ?? '?'}; make the file readable to it`;
}

/**
 * Docker and Kubernetes hand secrets over as files, so any setting `SDR_X` may instead be given as
 * `SDR_X_FILE`, the path of a file holding the value (surrounding whitespace and the final newline
 * dropped). Returns a copy of `env` with each such `SDR_X_FILE` replaced by `SDR_X`, for the config
 * compiler to validate like any other value. Settings that are themselves paths (`SDR_VAULT_TOKEN_FILE`,
 * which Vault re-reads) are left to their owner: a `_FILE` name in `knownSettings` is not expanded.
 * Throws `SDR_ERR_CONFIG_INVALID` naming each unreadable file, and each setting given both ways.
 */
export function expandFileSettings(
  env: NodeJS.ProcessEnv,
  knownSettings: readonly string[],
): NodeJS.ProcessEnv {
  const known = new Set(knownSettings);
  const expanded: NodeJS.ProcessEnv = { ...env };
  const problems: string[] = [];
  for (const [variable, path] of Object.entries(env)) {
    if (!variable.startsWith('SDR_') || !variable.endsWith(FILE_SUFFIX) || !path) continue;
    const setting = variable.slice(0, -FILE_SUFFIX.length);
    if (!known.has(setting)) continue;
    if (env[setting]) {
      problems.push(`${setting}: set both directly and as ${variable}; keep one`);
      continue;
    }
    if (known.has(variable)) continue;
    try {
      expanded[setting] = readFileSync(path, 'utf8').trim();
      delete expanded[variable];
    } catch (error) {
      problems.push(describeUnreadableFile(variable, path, error as NodeJS.ErrnoException));
    }
  }
  if (problems.length > 0) throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));
  return expanded;
}
