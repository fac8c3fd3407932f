import * as asn1js from "asn1js";
import { ModuleFormatError } from "./errors.js";
import type { AlgorithmRef } from "./types.js";

/**
 * Decodes exactly one BER element filling `der` (trailing bytes are an error: a signature or
 * certificate with something glued on is not what it claims to be). The caller owns `der`.
 */
export function decodeOne(der: Uint8Array, what: string): asn1js.AsnType {
  if (der.byteLength === 0) throw new ModuleFormatError(`${what} is empty`);
  let parsed: asn1js.FromBerResult;
  try {
    parsed = asn1js.fromBER(der, { maxDepth: 40, maxNodes: 20_000 });
  } catch (e) {
    throw new ModuleFormatError(`${what} is not valid ASN.1 (${errorText(e)})`);
  }
  if (parsed.offset === -1 || parsed.result.error) throw new ModuleFormatError(`${what} is not valid ASN.1 DER (${parsed.result.error || "undecodable"})`);
  if (parsed.offset !== der.byteLength) throw new ModuleFormatError(`${what} has ${der.byteLength - parsed.offset} trailing bytes after its ASN.1 structure`);
  return parsed.result;
}

export function children(block: asn1js.AsnType | undefined): asn1js.AsnType[] {
  if (block instanceof asn1js.Constructed) return block.valueBlock.value;
  return [];
}

export function raw(block: asn1js.AsnType): Uint8Array {
  return block.valueBeforeDecodeView;
}

/** An AlgorithmIdentifier SEQUENCE { OID, params? }; NULL params count as absent. */
export function algorithmRef(block: asn1js.AsnType | undefined, what: string): AlgorithmRef {
  const [oid, params] = children(block);
  if (!(oid instanceof asn1js.ObjectIdentifier)) throw new ModuleFormatError(`${what}: malformed AlgorithmIdentifier`);
  const ref: AlgorithmRef = { oid: oid.valueBlock.toString() };
  if (params && !(params instanceof asn1js.Null)) ref.params = raw(params);
  return ref;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
