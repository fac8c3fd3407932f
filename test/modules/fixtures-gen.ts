// Generates signing fixtures with the openssl CLI: keys, certificates with any dates and
// extensions (through `openssl ca`, which takes -startdate/-enddate on every OpenSSL 3.x), CMS
// signatures as scripts/sign-file makes them, and kernel-format signed modules. Used by the
// verification corpus and by the registry's black-box tests. Synchronous: call it from a `before`
// hook. The kernel trailer is written here independently of src/, so a mistake in the code under
// test is not mirrored by the fixtures.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";

export type KeySpec = "rsa2048" | "rsa1024" | "rsa3072" | "ec256" | "ec384";

export interface Identity {
  name: string;
  /** openssl -subj form: "/O=Example Corp/CN=Signer". */
  subj: string;
  keyPath: string;
  certPath: string;
  pem: string;
  fingerprint256: string;
}

export interface IssueOptions {
  /** openssl -subj form; default "/O=Example Corp/CN=<name>". */
  subj?: string;
  /** A fresh key of this kind (default rsa2048), or the key of an existing identity (keygen is the slow part). */
  key?: KeySpec | { sameKeyAs: Identity } | { keyPath: string };
  /** Absent: self-signed. */
  issuer?: Identity;
  /** CA certificate (basicConstraints critical CA:TRUE, optional pathlen). Default false. */
  ca?: boolean | { pathLen: number };
  /** openssl extension values; null omits the extension. Defaults: CA "critical,keyCertSign,cRLSign", leaf "critical,digitalSignature". */
  keyUsage?: string | null;
  /** Default for leaves "codeSigning", for CAs none. */
  extendedKeyUsage?: string | null;
  /** Raw basicConstraints value overriding `ca` ("critical,CA:FALSE"); null omits it. */
  basicConstraints?: string | null;
  /** Further lines for the extension section, e.g. "1.3.6.1.4.1.55738.666.1=critical,ASN1:NULL". */
  extra?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Digest of the certificate's signature (default sha256). */
  md?: string;
  /** Issuer signs the certificate with RSASSA-PSS. */
  pss?: boolean;
}

export interface SignOptions {
  md?: string;
  pss?: boolean;
  /** Include signed attributes (contentType, messageDigest, signingTime); sign-file uses -noattr. */
  attributes?: boolean;
  /** Identify the signer by subjectKeyIdentifier instead of issuer and serial (sign-file -k). */
  keyId?: boolean;
  outform?: "DER" | "PEM";
  /** Keep the signer certificate inside the CMS (sign-file uses -nocerts). */
  embedCertificate?: boolean;
  /** Carry the content inside the CMS (-nodetach): not a valid module signature. */
  attached?: boolean;
}

export type SignKind = "kernel" | "detached";

export interface SignedModule {
  /** What to upload as the artifact: module+CMS+trailer (kernel) or the module (detached). */
  artifactPath: string;
  artifact: Uint8Array;
  /** The detached signature file (detached only). */
  signaturePath?: string;
  signature?: Uint8Array;
  /** The module bytes that were signed. */
  module: Uint8Array;
  /** The CMS, DER or PEM as asked. */
  cms: Uint8Array;
}

const MAGIC = Buffer.from("~Module signature appended~\n", "latin1");
let signatures = 0;

function openssl(args: string[], cwd?: string): string {
  try {
    return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr ?? err.message}`);
  }
}

/** openssl ca's date form. */
function caDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** A throwaway PKI in one directory. */
export class Pki {
  private seq = 0;
  private readonly caDir: string;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.caDir = join(dir, ".ca");
    mkdirSync(join(this.caDir, "issued"), { recursive: true });
    writeFileSync(join(this.caDir, "index.txt"), "");
    writeFileSync(join(this.caDir, "serial"), "1000\n");
    writeFileSync(
      join(this.caDir, "ca.cnf"),
      [
        "[ ca ]",
        "default_ca = fixtures",
        "[ fixtures ]",
        `database = ${join(this.caDir, "index.txt")}`,
        `new_certs_dir = ${join(this.caDir, "issued")}`,
        `serial = ${join(this.caDir, "serial")}`,
        "default_md = sha256",
        "policy = anything",
        "unique_subject = no",
        "copy_extensions = none",
        "[ anything ]",
        "commonName = optional",
        "",
      ].join("\n"),
    );
  }

  /** A fresh private key file. */
  key(spec: KeySpec, name = `key${++this.seq}`, o: { publicExponent?: bigint } = {}): string {
    const path = join(this.dir, `${name}.key`);
    const alg = spec.startsWith("rsa")
      ? ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${spec.slice(3)}`, ...(o.publicExponent ? ["-pkeyopt", `rsa_keygen_pubexp:${o.publicExponent}`] : [])]
      : ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:P-${spec.slice(2)}`];
    openssl(["genpkey", ...alg, "-out", path]);
    return path;
  }

  issue(name: string, o: IssueOptions = {}): Identity {
    const subj = o.subj ?? `/O=Example Corp/CN=${name}`;
    const keyPath =
      o.key && typeof o.key === "object" ? ("sameKeyAs" in o.key ? o.key.sameKeyAs.keyPath : o.key.keyPath) : this.key(o.key ?? "rsa2048", name);
    const isCa = o.ca !== undefined && o.ca !== false;
    const lines: string[] = [];
    const bc = o.basicConstraints !== undefined ? o.basicConstraints : isCa ? `critical,CA:TRUE${typeof o.ca === "object" ? `,pathlen:${o.ca.pathLen}` : ""}` : "critical,CA:FALSE";
    if (bc !== null) lines.push(`basicConstraints = ${bc}`);
    const ku = o.keyUsage !== undefined ? o.keyUsage : isCa ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature";
    if (ku !== null) lines.push(`keyUsage = ${ku}`);
    const eku = o.extendedKeyUsage !== undefined ? o.extendedKeyUsage : isCa ? null : "codeSigning";
    if (eku !== null) lines.push(`extendedKeyUsage = ${eku}`);
    lines.push("subjectKeyIdentifier = hash", ...(o.extra ?? []));
    const extPath = join(this.dir, `${name}.ext`);
    writeFileSync(extPath, `[ ext ]\n${lines.join("\n")}\n`);

    const csr = join(this.dir, `${name}.csr`);
    const certPath = join(this.dir, `${name}.pem`);
    openssl(["req", "-new", "-key", keyPath, "-subj", subj, "-out", csr]);
    const notBefore = o.notBefore ?? new Date(Date.now() - 3_600_000);
    const notAfter = o.notAfter ?? new Date(Date.now() + 30 * 86_400_000);
    const signer = o.issuer ? ["-cert", o.issuer.certPath, "-keyfile", o.issuer.keyPath] : ["-selfsign", "-keyfile", keyPath];
    openssl([
      "ca", "-batch", "-config", join(this.caDir, "ca.cnf"), ...signer, "-in", csr, "-out", certPath,
      "-startdate", caDate(notBefore), "-enddate", caDate(notAfter), "-extfile", extPath, "-extensions", "ext",
      "-md", o.md ?? "sha256", "-rand_serial", "-notext", "-preserveDN",
      ...(o.pss ? ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] : []),
    ]);
    const pem = readFileSync(certPath, "utf8");
    return { name, subj, keyPath, certPath, pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
  }

  /** Random module bytes written to <name>.ko. */
  module(name: string, size = 4096): { path: string; bytes: Uint8Array } {
    const path = join(this.dir, `${name}.ko`);
    const bytes = new Uint8Array(randomBytes(size));
    writeFileSync(path, bytes);
    return { path, bytes };
  }
}

/** A detached CMS over the file, as scripts/sign-file makes it (openssl cms -sign -binary -noattr -nocerts). */
export function signDetached(modulePath: string, signer: Identity, o: SignOptions = {}): Uint8Array {
  return new Uint8Array(readFileSync(signDetachedToFile(modulePath, signer, o)));
}

/** As signDetached, answering the path of the signature file. */
export function signDetachedToFile(modulePath: string, signer: Identity, o: SignOptions = {}): string {
  const out = `${modulePath}.${signer.name}.${++signatures}.${o.outform === "PEM" ? "pem" : "der"}.p7s`;
  openssl([
    "cms", "-sign", "-binary", ...(o.attributes ? [] : ["-noattr"]), ...(o.embedCertificate ? [] : ["-nocerts"]),
    "-outform", o.outform ?? "DER", "-md", o.md ?? "sha256", "-signer", signer.certPath, "-inkey", signer.keyPath,
    ...(o.keyId ? ["-keyid"] : []), ...(o.attached ? ["-nodetach"] : []), ...(o.pss ? ["-keyopt", "rsa_padding_mode:pss"] : []),
    "-in", modulePath, "-out", out,
  ]);
  return out;
}

/** struct module_signature { u8 algo, hash, id_type = 2 (PKCS#7), signer_len, key_id_len, pad[3]; __be32 sig_len } + magic. */
export function kernelTrailerFor(cmsLength: number, idType = 2): Buffer {
  const info = Buffer.alloc(12);
  info[2] = idType;
  info.writeUInt32BE(cmsLength, 8);
  return Buffer.concat([info, MAGIC]);
}

/** Signs a module file; "kernel" writes <file>.signed.ko with the CMS and trailer appended, "detached" a .p7s beside it. */
export function signModule(modulePath: string, signer: Identity, kind: SignKind = "kernel", o: SignOptions = {}): SignedModule {
  const module = new Uint8Array(readFileSync(modulePath));
  if (kind === "kernel") {
    const cms = signDetached(modulePath, signer, { ...o, outform: "DER" });
    const artifact = new Uint8Array(Buffer.concat([module, cms, kernelTrailerFor(cms.byteLength)]));
    const artifactPath = modulePath.replace(/\.ko$/, "") + `.${signer.name}.signed.ko`;
    writeFileSync(artifactPath, artifact);
    return { artifactPath, artifact, module, cms };
  }
  const signaturePath = signDetachedToFile(modulePath, signer, o);
  const cms = new Uint8Array(readFileSync(signaturePath));
  return { artifactPath: modulePath, artifact: module, signaturePath, signature: cms, module, cms };
}

export interface StandardPki {
  pki: Pki;
  dir: string;
  /** Self-signed root (CA, no pathlen). */
  root: Identity;
  /** Issued by root, CA pathlen:0. */
  intermediate: Identity;
  /** Issued by the intermediate: digitalSignature, codeSigning. */
  signer: Identity;
  /** signer + intermediate PEM, what a registry upload's `certificates` field carries. */
  bundle: string;
  signModule(modulePath: string, kind?: SignKind, o?: SignOptions): SignedModule;
}

/** root -> intermediate -> signer, RSA-2048 (signer key kind selectable). */
export function makePki(dir: string, o: { signerKey?: KeySpec; subjectPrefix?: string } = {}): StandardPki {
  const pki = new Pki(dir);
  const p = o.subjectPrefix ?? "/O=Example Corp";
  const root = pki.issue("root", { subj: `${p}/CN=Example Root CA`, ca: true });
  const intermediate = pki.issue("intermediate", { subj: `${p}/CN=Example Intermediate CA`, ca: { pathLen: 0 }, issuer: root });
  const signer = pki.issue("signer", { subj: `${p}/CN=Example Module Signer`, issuer: intermediate, key: o.signerKey ?? "rsa2048" });
  return {
    pki,
    dir,
    root,
    intermediate,
    signer,
    bundle: signer.pem + intermediate.pem,
    signModule: (modulePath, kind = "kernel", so = {}) => signModule(modulePath, signer, kind, so),
  };
}
