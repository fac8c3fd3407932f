// npm run modules -- sign --key K --cert C file.ko
// Signs a kernel module the way the kernel's scripts/sign-file does: a detached CMS SignedData
// (SHA-256, no signed attributes, no certificates inside) made by the openssl CLI, appended to the
// module with struct module_signature and the magic string. Needs openssl on the PATH.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { DEMO_PKI_DIR } from "./demo-pki.js";
import { appendKernelSignature, MODULE_SIGNATURE_MAGIC } from "./verification/index.js";

const run = promisify(execFile);

const USAGE = `usage: npm run modules -- sign (--key KEY.pem --cert CERT.pem | --demo) [--out OUT.ko] [--detached OUT.p7s] FILE.ko

  --key, --cert   the signing key and its certificate (PEM)
  --demo          use the development demo signer in $DATA_DIR/${DEMO_PKI_DIR} (default ./data)
  --out           write the signed module here instead of replacing FILE.ko
  --detached      write only the detached CMS signature (DER) here; FILE.ko is left alone

Needs the openssl CLI (openssl cms). Upload the result with:
  korch modules push NAME VERSION FILE.ko --certificates CERT.pem`;

export function hasAppendedSignature(file: Uint8Array): boolean {
  const magic = Buffer.from(MODULE_SIGNATURE_MAGIC, "latin1");
  return file.length >= magic.length && Buffer.from(file.subarray(file.length - magic.length)).equals(magic);
}

/** The detached CMS (DER) over `modulePath`'s bytes, as sign-file makes it. */
async function cmsSign(modulePath: string, keyPath: string, certPath: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "korch-sign-"));
  const out = join(dir, "sig.p7s");
  try {
    await run("openssl", ["cms", "-sign", "-binary", "-noattr", "-nosmimecap", "-nocerts", "-md", "sha256", "-outform", "DER", "-in", modulePath, "-signer", certPath, "-inkey", keyPath, "-out", out]);
    return readFileSync(out);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new Error("openssl was not found on the PATH: signing needs the openssl CLI");
    throw new Error(`openssl cms -sign failed: ${(e.stderr ?? e.message).trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signs `file` in kernel format; answers where the signed module went. */
export async function signModule(opts: { file: string; key: string; cert: string; out?: string; detached?: string }): Promise<{ written: string; sigLen: number }> {
  const module = readFileSync(opts.file);
  if (!opts.detached && hasAppendedSignature(module)) throw new Error(`${opts.file} already carries an appended signature`);
  const signature = await cmsSign(opts.file, opts.key, opts.cert);
  if (opts.detached) {
    writeFileSync(opts.detached, signature);
    return { written: opts.detached, sigLen: signature.length };
  }
  const target = resolve(opts.out ?? opts.file);
  // written beside the target and renamed, so an interrupted run never leaves half a module
  const tmp = join(dirname(target), `.${Date.now()}-${process.pid}.signing`);
  writeFileSync(tmp, appendKernelSignature(module, signature));
  renameSync(tmp, target);
  return { written: target, sigLen: signature.length };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: "string" },
      cert: { type: "string" },
      demo: { type: "boolean" },
      out: { type: "string" },
      detached: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, file] = positionals;
  if (values.help || command !== "sign" || !file) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  let key = values.key;
  let cert = values.cert;
  if (values.demo) {
    const dir = join(resolve(process.env.DATA_DIR ?? "./data"), DEMO_PKI_DIR);
    key = join(dir, "signer.key");
    cert = join(dir, "signer.pem");
  }
  if (!key || !cert) {
    console.error("sign needs --key and --cert (or --demo)\n\n" + USAGE);
    return 2;
  }
  const r = await signModule({ file, key, cert, out: values.out, detached: values.detached });
  console.log(`${values.detached ? "detached signature" : "signed module"} written to ${r.written} (${r.sigLen}-byte CMS signature)`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("sign-cli.ts")) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
