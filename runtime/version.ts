import { readFileSync } from 'node:fs';

/** This build's version, from package.json, sent to the cloud in `hello`. */
export const RUNTIME_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
