import type { Verification, VerifyInput } from "./types.js";

/**
 * The whole judgement, synchronous. Throws ModuleFormatError only for a signature or certificate
 * bundle that cannot be parsed; every other problem is a verdict.
 */
export function verifyModule(input: VerifyInput): Verification {
  throw new Error("not implemented yet");
}
