/**
 * How many cases each fast-check property runs: 10 000 in CI and by default, more when
 * `SDR_PROPERTY_RUNS` says so (the nightly script, `npm run test:nightly`, sets 200 000).
 */
export const PROPERTY_RUNS = Math.max(10_000, Number(process.env.SDR_PROPERTY_RUNS ?? 0) || 0);
