/**
 * Finds a secret value ("canary") anywhere in what the product emits: strings, buffers, errors (message,
 * stack, cause chain, own properties), arrays and plain objects. Also catches its JSON-escaped, hex and
 * (when encoded on its own) base64 forms, which is how a value usually slips into a frame or log unnoticed.
 */
export function findCanary(
  haystack: unknown,
  canary: string,
  path = '$',
  seen = new Set<unknown>(),
): string | undefined {
  if (canary === '') throw new Error('an empty canary matches everything');
  if (haystack === null || haystack === undefined) return undefined;
  if (typeof haystack === 'string') return matches(haystack, canary) ? path : undefined;
  if (typeof haystack === 'number' || typeof haystack === 'boolean' || typeof haystack === 'bigint') {
    return matches(String(haystack), canary) ? path : undefined;
  }
  if (typeof haystack !== 'object' && typeof haystack !== 'function') return undefined;
  if (seen.has(haystack)) return undefined;
  seen.add(haystack);
  if (Buffer.isBuffer(haystack) || haystack instanceof Uint8Array) {
    return matches(Buffer.from(haystack).toString('latin1'), canary) ? path : undefined;
  }
  if (haystack instanceof Error) {
    for (const [key, value] of [
      ['message', haystack.message],
      ['stack', haystack.stack],
      ['cause', haystack.cause],
    ] as const) {
      const found = findCanary(value, canary, `${path}.${key}`, seen);
      if (found) return found;
    }
  }
  if (haystack instanceof Map) {
    for (const [key, value] of haystack) {
      const found =
        findCanary(key, canary, `${path}<key>`, seen) ??
        findCanary(value, canary, `${path}[${String(key)}]`, seen);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Reflect.ownKeys(haystack)) {
    if (typeof key === 'symbol') continue;
    if (matches(key, canary)) return `${path}<key ${key}>`;
    let value: unknown;
    try {
      value = (haystack as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    const found = findCanary(value, canary, `${path}.${key}`, seen);
    if (found) return found;
  }
  return undefined;
}

/** Throws naming where the canary was found; use in tests as `assertNoCanary(error, value)`. */
export function assertNoCanary(haystack: unknown, canary: string, what = 'value'): void {
  const found = findCanary(haystack, canary);
  if (found) throw new Error(`secret canary leaked into ${what} at ${found}`);
}

function matches(text: string, canary: string): boolean {
  return (
    text.includes(canary) ||
    text.includes(JSON.stringify(canary).slice(1, -1)) ||
    text.includes(Buffer.from(canary, 'utf8').toString('base64').replace(/=+$/, '').slice(0, -2)) ||
    text.includes(Buffer.from(canary, 'utf8').toString('hex'))
  );
}
