import { ModuleFormatError } from "./errors.js";
import type { ParsedSignature } from "./types.js";

/** Parses a detached CMS/PKCS#7 SignedData given as DER or PEM; ModuleFormatError if it is not one. */
export function parseSignature(input: Uint8Array): ParsedSignature {
  throw new ModuleFormatError("not implemented yet");
}
