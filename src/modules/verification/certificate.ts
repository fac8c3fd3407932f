import { ModuleFormatError } from "./errors.js";
import type { ParsedCertificate } from "./types.js";

/** Parses a PEM bundle (or one DER certificate); ModuleFormatError naming the bad block. Empty input -> []. */
export function parseCertificates(input: string | Uint8Array): ParsedCertificate[] {
  throw new ModuleFormatError("not implemented yet");
}

/** Parses one DER certificate. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  throw new ModuleFormatError("not implemented yet");
}
