import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { children, decodeOne, errorText, raw } from "./asn1.js";
import { ownedCopy, upperHex } from "./bytes.js";
import { parseCertificate, MAX_BUNDLE_CERTIFICATES } from "./certificate.js";
import { ModuleFormatError } from "./errors.js";
import { OID } from "./oids.js";
import { looksLikePem, pemBlocks } from "./pem.js";
import type { AlgorithmRef, ParsedCertificate, ParsedSignature, SignerIdentifier } from "./types.js";

const CMS_LABELS = new Set(["CMS", "PKCS7", "PKCS #7 SIGNED DATA"]);

/**
 * Parses a detached CMS/PKCS#7 SignedData given as DER or PEM; ModuleFormatError if it is not one,
 * if it carries its content (the kernel's are detached), or if it has other than one signer.
 */
export function parseSignature(input: Uint8Array): ParsedSignature {
  let der: Uint8Array;
  if (looksLikePem(input)) {
    const blocks = pemBlocks(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("latin1"));
    const [block] = blocks;
    if (!block) throw new ModuleFormatError("signature is neither DER (an ASN.1 SEQUENCE) nor PEM");
    if (blocks.length !== 1) throw new ModuleFormatError(`signature: expected one PEM block, found ${blocks.length}`);
    if (!CMS_LABELS.has(block.label)) throw new ModuleFormatError(`signature: PEM block is a ${block.label}, not a CMS or PKCS7`);
    der = block.der;
  } else {
    der = ownedCopy(input);
  }
  const top = decodeOne(der, "signature");
  try {
    return fromAsn1(der, top);
  } catch (e) {
    if (e instanceof ModuleFormatError) throw e;
    throw new ModuleFormatError(`signature is not a CMS SignedData (${errorText(e)})`);
  }
}

function fromAsn1(der: Uint8Array, top: asn1js.AsnType): ParsedSignature {
  const info = new pkijs.ContentInfo({ schema: top });
  if (info.contentType !== OID.signedData) throw new ModuleFormatError(`signature is a CMS ${info.contentType}, not a SignedData`);
  const signed = new pkijs.SignedData({ schema: info.content });
  if (signed.encapContentInfo.eContentType !== OID.data) throw new ModuleFormatError(`signature covers content of type ${signed.encapContentInfo.eContentType}, not data`);
  if (carriesContent(top)) throw new ModuleFormatError("signature carries its content; a module signature must be detached (openssl cms -sign -binary without -nodetach)");
  if (signed.signerInfos.length !== 1) throw new ModuleFormatError(`signature has ${signed.signerInfos.length} signers; exactly one is supported`);
  const si = signed.signerInfos[0]!;
  return {
    der,
    signerId: signerIdentifier(si.sid),
    digestAlgorithm: algorithm(si.digestAlgorithm),
    signatureAlgorithm: algorithm(si.signatureAlgorithm),
    signature: new Uint8Array(si.signature.getValue()),
    signedAttributes: si.signedAttrs ? signedAttributes(si.signedAttrs) : null,
    certificates: embeddedCertificates(top),
  };
}

/**
 * Read from the tree rather than pkijs's eContent, which pkijs fills with a placeholder for the
 * indefinite-length encoding a streaming signer (openssl cms -stream) writes.
 */
function carriesContent(top: asn1js.AsnType): boolean {
  const [, explicit] = children(top);
  const [signedData] = children(explicit);
  const encap = children(signedData)[2];
  return children(encap).some((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0);
}

function algorithm(a: pkijs.AlgorithmIdentifier): AlgorithmRef {
  const params: unknown = a.algorithmParams;
  const ref: AlgorithmRef = { oid: a.algorithmId };
  if (params instanceof asn1js.BaseBlock && !(params instanceof asn1js.Null)) ref.params = raw(params as asn1js.AsnType);
  return ref;
}

function signerIdentifier(sid: unknown): SignerIdentifier {
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    let serial = sid.serialNumber.valueBlock.valueHexView;
    while (serial.length > 1 && serial[0] === 0) serial = serial.subarray(1);
    return { kind: "issuerAndSerial", issuerDer: new Uint8Array(sid.issuer.valueBeforeDecode), serialNumber: upperHex(serial) };
  }
  // [0] SubjectKeyIdentifier: IMPLICIT OCTET STRING (primitive), or wrapped when parsed as constructed.
  if (sid instanceof asn1js.Constructed) {
    const [inner] = children(sid);
    if (inner instanceof asn1js.OctetString) return { kind: "subjectKeyIdentifier", keyId: new Uint8Array(inner.getValue()) };
  } else if (sid instanceof asn1js.Primitive) {
    return { kind: "subjectKeyIdentifier", keyId: new Uint8Array(sid.valueBlock.valueHexView) };
  }
  throw new ModuleFormatError("signature: signer identifier is neither issuerAndSerialNumber nor subjectKeyIdentifier");
}

function signedAttributes(attrs: pkijs.SignedAndUnsignedAttributes): NonNullable<ParsedSignature["signedAttributes"]> {
  const single = (oid: string, name: string): asn1js.AsnType => {
    const found = attrs.attributes.filter((a) => a.type === oid);
    const [only] = found;
    if (found.length !== 1 || !only || only.values.length !== 1) throw new ModuleFormatError(`signature: signed attributes must hold exactly one ${name}`);
    return only.values[0] as asn1js.AsnType;
  };
  const digest = single(OID.messageDigestAttr, "messageDigest");
  const type = single(OID.contentTypeAttr, "contentType");
  if (!(digest instanceof asn1js.OctetString)) throw new ModuleFormatError("signature: messageDigest attribute is not an OCTET STRING");
  if (!(type instanceof asn1js.ObjectIdentifier)) throw new ModuleFormatError("signature: contentType attribute is not an OBJECT IDENTIFIER");
  // pkijs keeps the attributes' encoding re-tagged from [0] IMPLICIT to SET OF: exactly the signed bytes.
  return { der: new Uint8Array(attrs.encodedValue), messageDigest: new Uint8Array(digest.getValue()), contentType: type.valueBlock.toString() };
}

/** Certificates inside the SignedData ([0] IMPLICIT CertificateSet): X.509 ones only, others ignored. */
function embeddedCertificates(top: asn1js.AsnType): ParsedCertificate[] {
  const [, explicit] = children(top);
  const [signedData] = children(explicit);
  const set = children(signedData).find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0);
  const certs = children(set).filter((b) => b instanceof asn1js.Sequence);
  if (certs.length > MAX_BUNDLE_CERTIFICATES) throw new ModuleFormatError(`signature carries ${certs.length} certificates, at most ${MAX_BUNDLE_CERTIFICATES} allowed`);
  return certs.map((b, i) => parseCertificate(raw(b), `certificate ${i + 1} inside the signature`));
}
