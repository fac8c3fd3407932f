// Development mode's demo PKI: a CA and a module-signing certificate under DATA_DIR/demo-pki, made
// once per data directory with node:crypto and pkijs (no openssl needed to start), so the quick
// start can sign a module (npm run modules -- sign) and see it verified. Keys are 0600 files; the
// secrets store is not wired into the server yet, so the CA key does not live there.
import { createHash, randomBytes, randomUUID, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

export const DEMO_PKI_DIR = "demo-pki";
const ORGANIZATION = "Kernel Orchestrator Demo";
const CODE_SIGNING = "1.3.6.1.5.5.7.3.3";
const DAY_MS = 86_400_000;

export interface DemoPki {
  dir: string;
  caCertPath: string;
  caKeyPath: string;
  signerCertPath: string;
  signerKeyPath: string;
  caPem: string;
  /** true when this call made it */
  created: boolean;
}

const RSA: RsaHashedKeyGenParams = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };

const pem = (label: string, der: ArrayBuffer | Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;

/** O=…, CN=… as two RDNs (pkijs would put attributes given together into one multi-valued RDN) */
function name(commonName: string): pkijs.RelativeDistinguishedNames {
  const attribute = (type: string, value: string) => new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }).toSchema()] });
  const der = new asn1js.Sequence({ value: [attribute("2.5.4.10", ORGANIZATION), attribute("2.5.4.3", commonName)] }).toBER(false);
  return new pkijs.RelativeDistinguishedNames({ schema: asn1js.fromBER(der).result });
}

/** keyUsage as a DER BIT STRING: bit 0 digitalSignature, bit 5 keyCertSign, bit 6 cRLSign */
function keyUsage(bits: number[]): pkijs.Extension {
  const byte = bits.reduce((b, i) => b | (0x80 >> i), 0);
  const unused = 7 - Math.max(...bits);
  const value = new asn1js.BitString({ valueHex: new Uint8Array([byte]).buffer, unusedBits: unused });
  return new pkijs.Extension({ extnID: "2.5.29.15", critical: true, extnValue: value.toBER(false) });
}

async function certificate(o: {
  subject: string;
  issuer: string;
  publicKey: webcrypto.CryptoKey;
  signingKey: webcrypto.CryptoKey;
  ca: boolean;
  validDays: number;
  now: number;
}): Promise<Uint8Array> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // positive
  cert.serialNumber = new asn1js.Integer({ valueHex: serial.buffer.slice(serial.byteOffset, serial.byteOffset + serial.byteLength) });
  cert.subject = name(o.subject);
  cert.issuer = name(o.issuer);
  cert.notBefore.value = new Date(o.now - 3600_000);
  cert.notAfter.value = new Date(o.now + o.validDays * DAY_MS);
  await cert.subjectPublicKeyInfo.importKey(o.publicKey as CryptoKey);
  const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", o.publicKey));
  const keyId = createHash("sha1").update(spki).digest();
  const basic = new pkijs.BasicConstraints(o.ca ? { cA: true, pathLenConstraint: 0 } : { cA: false });
  cert.extensions = [
    new pkijs.Extension({ extnID: "2.5.29.19", critical: true, extnValue: basic.toSchema().toBER(false) }),
    o.ca ? keyUsage([5, 6]) : keyUsage([0]),
    new pkijs.Extension({ extnID: "2.5.29.14", critical: false, extnValue: new asn1js.OctetString({ valueHex: keyId }).toBER(false) }),
    ...(o.ca ? [] : [new pkijs.Extension({ extnID: "2.5.29.37", critical: false, extnValue: new pkijs.ExtKeyUsage({ keyPurposes: [CODE_SIGNING] }).toSchema().toBER(false) })]),
  ];
  await cert.sign(o.signingKey as CryptoKey, "SHA-256");
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

function paths(dir: string) {
  return {
    caCertPath: join(dir, "ca.pem"),
    caKeyPath: join(dir, "ca.key"),
    signerCertPath: join(dir, "signer.pem"),
    signerKeyPath: join(dir, "signer.key"),
  };
}

/** The demo PKI of `dataDir`, made on first use (into a temp directory renamed in place, so a crash leaves none or all). */
export async function ensureDemoPki(dataDir: string, now: number = Date.now()): Promise<DemoPki> {
  const dir = join(dataDir, DEMO_PKI_DIR);
  let created = false;
  if (!existsSync(join(dir, "ca.pem"))) {
    const tmp = join(dataDir, `.${DEMO_PKI_DIR}-${randomUUID()}`);
    mkdirSync(tmp, { mode: 0o700 });
    try {
      const ca = await webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"]);
      const signer = await webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"]);
      const caDer = await certificate({ subject: "Demo Module CA", issuer: "Demo Module CA", publicKey: ca.publicKey, signingKey: ca.privateKey, ca: true, validDays: 3650, now });
      const signerDer = await certificate({ subject: "Demo Module Signing", issuer: "Demo Module CA", publicKey: signer.publicKey, signingKey: ca.privateKey, ca: false, validDays: 730, now });
      const p = paths(tmp);
      writeFileSync(p.caKeyPath, pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", ca.privateKey)), { mode: 0o600 });
      writeFileSync(p.signerKeyPath, pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", signer.privateKey)), { mode: 0o600 });
      writeFileSync(p.caCertPath, pem("CERTIFICATE", caDer), { mode: 0o600 });
      writeFileSync(p.signerCertPath, pem("CERTIFICATE", signerDer), { mode: 0o600 });
      renameSync(tmp, dir);
      created = true;
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      // another process made it meanwhile: use theirs
      if (!existsSync(join(dir, "ca.pem"))) throw err;
    }
  }
  const p = paths(dir);
  return { dir, ...p, caPem: readFileSync(p.caCertPath, "utf8"), created };
}
