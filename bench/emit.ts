import { QUICK } from "./quick.js";

/** One benchmark figure as one JSON line. */
export function emit(name: string, value: number, unit: string, conditions: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ name, value: Number(value.toFixed(3)), unit, conditions: { node: process.version, ...(QUICK && { quick: true }), ...conditions } }) + "\n");
}
