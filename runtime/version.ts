import { readFileSync } from 'node:fs';

function readVersion(): string {
  // Sources run from runtime/, the compiled build from dist/runtime/: package.json is one or two levels up.
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { version: string })
        .version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0-unknown';
}

/** This build's version, from package.json, sent to the cloud in `hello`. */
export const RUNTIME_VERSION: string = readVersion();
