/** The wire contract between runtime and cloud. Imports nothing of ours. */
export * from './checksum.js';
export * from './codec.js';
export * from './errors.js';
export * from './frames.js';
export * from './signing.js';
export * from './manifest.js';
