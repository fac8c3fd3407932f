/**
 * `npm run bench -- --quick` (bench/run.ts) sets BENCH_QUICK=1: each bench runs shorter and
 * smaller, and says so in its figures' conditions (`quick: true` and the sizes it used).
 */
export const QUICK = process.env.BENCH_QUICK === "1";

/** The full run's value, or the quick one under --quick; an explicit environment variable wins over both. */
export function sized(envName: string, full: number, quick: number): number {
  const given = process.env[envName];
  return given !== undefined && given !== "" ? Number(given) : QUICK ? quick : full;
}
