import type * as pkijs from "pkijs";

// Short names as OpenSSL prints them, so a policy's trustedIdentities ("O=Example Corp") reads
// the way operators see subjects in `openssl x509 -subject`.
const SHORT_NAMES: ReadonlyMap<string, string> = new Map([
  ["2.5.4.3", "CN"],
  ["2.5.4.4", "SN"],
  ["2.5.4.5", "serialNumber"],
  ["2.5.4.6", "C"],
  ["2.5.4.7", "L"],
  ["2.5.4.8", "ST"],
  ["2.5.4.9", "street"],
  ["2.5.4.10", "O"],
  ["2.5.4.11", "OU"],
  ["2.5.4.12", "title"],
  ["2.5.4.42", "GN"],
  ["2.5.4.97", "organizationIdentifier"],
  ["0.9.2342.19200300.100.1.25", "DC"],
  ["0.9.2342.19200300.100.1.1", "UID"],
  ["1.2.840.113549.1.9.1", "emailAddress"],
]);

function escapeValue(v: string): string {
  return v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

/** "C=DE, O=Example Corp, CN=Build": attributes in certificate order, RFC 4514 escaping. */
export function formatName(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map((tv) => {
      const key = SHORT_NAMES.get(tv.type) ?? tv.type;
      // AttributeValueType is a union of asn1js string blocks; all of them carry a decoded string.
      const block = tv.value as { valueBlock?: { value?: unknown } };
      const value = typeof block.valueBlock?.value === "string" ? block.valueBlock.value : "#";
      return `${key}=${escapeValue(value)}`;
    })
    .join(", ");
}
