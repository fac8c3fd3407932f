import { setFlagsFromString } from "node:v8";

let applied = false;

/**
 * Turns off V8's allocation-site pretenuring for this process (once; later calls do nothing).
 *
 * V8 allocates an object straight in the old generation when most objects from the same place in
 * the code survived a young-generation collection. Node's HTTP machinery (the request, its parser
 * state, the response and its headers) comes from the same places for every request: a burst of
 * event streams, which live for hours, teaches those places to pretenure, and from then on every
 * heartbeat's request and response, done in a millisecond, is born old and left there as garbage
 * until the next full collection. Measured (bench/fleet.bench.ts, FLEET_BENCH_ALLOCATIONS): after
 * 2,000 SSE clients connect, ~1.9 KiB a heartbeat went to the old generation (57 MiB in a 30 s
 * window at 1,000/s), and the peak RSS grew 51 MiB over the window instead of 20. Objects that
 * really live long are still promoted after surviving two scavenges, as without the feedback.
 *
 * The flag is read at each garbage collection, so setting it at run time takes effect from then
 * on; a site already marked before keeps its mark (so this runs before the server serves).
 */
export function disablePretenuring(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString("--no-allocation-site-pretenuring");
}
