import { ModuleFormatError } from "./errors.js";

// asn1js reads BER leniently (a child may run past its parent's declared length, lengths need not
// be minimal). For certificates that matters: revocation and trust-store entries are keyed by the
// SHA-256 of the DER, so a second encoding of the same signed certificate would be a second
// identity. Certificates must therefore be exactly one DER TLV tree: definite, minimal lengths and
// constructed values filled exactly by their children.

const MAX_DEPTH = 32;

export function assertStrictDer(bytes: Uint8Array, what: string): void {
  const end = walk(bytes, 0, bytes.length, 0, what);
  if (end !== bytes.length) throw new ModuleFormatError(`${what}: ${bytes.length - end} bytes after the DER structure`);
}

/** Reads one TLV at `pos` that must end by `limit`; returns where it ends. */
function walk(b: Uint8Array, pos: number, limit: number, depth: number, what: string): number {
  const bad = (why: string): never => {
    throw new ModuleFormatError(`${what} is not DER: ${why} at byte ${pos}`);
  };
  if (depth > MAX_DEPTH) bad("nested too deeply");
  if (pos >= limit) bad("truncated tag");
  const tag = b[pos++]!;
  if ((tag & 0x1f) === 0x1f) {
    // High tag number: base-128, no leading 0x80 group, bounded.
    if (pos >= limit || b[pos] === 0x80) bad("bad high tag number");
    for (let n = 0; ; n++) {
      if (pos >= limit || n > 3) bad("bad high tag number");
      if ((b[pos++]! & 0x80) === 0) break;
    }
  }
  if (pos >= limit) bad("truncated length");
  let len = b[pos++]!;
  if (len === 0x80) bad("indefinite length");
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4 || pos + n > limit) bad("length too long");
    if (b[pos] === 0) bad("non-minimal length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[pos++]!;
    if (len < 0x80) bad("non-minimal length");
  }
  if (len > limit - pos) bad("value runs past its container");
  const end = pos + len;
  if (tag & 0x20) {
    let p = pos;
    while (p < end) p = walk(b, p, end, depth + 1, what);
  }
  return end;
}
