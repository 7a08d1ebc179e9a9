/** Shorter secret values are not scrubbed: they would redact ordinary words and are too weak to be credentials. */
export const MIN_SCRUBBED_LENGTH = 4;

/**
 * Replaces every occurrence of a known secret value in `text` with `[redacted]`: the one scrubber for
 * text about to leave its component (error messages, warnings, frames). Defence in depth: most servers
 * never echo a password, but some echo connection strings or key material.
 */
export function scrubSecrets(text: string, secretValues: Iterable<string>): string {
  let scrubbed = text;
  for (const value of secretValues) {
    if (value.length >= MIN_SCRUBBED_LENGTH) scrubbed = scrubbed.split(value).join('[redacted]');
  }
  return scrubbed;
}
