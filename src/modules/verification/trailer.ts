import { ModuleFormatError } from "./errors.js";
import type { KernelTrailer, SplitModule } from "./types.js";

// Layout (include/linux/module_signature.h, scripts/sign-file.c):
//   [module][CMS DER, sig_len bytes][struct module_signature, 12 bytes][MODULE_SIGNATURE_MAGIC]
// struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len }
// For PKCS#7 (id_type 2) every field but id_type and sig_len is zero; the kernel refuses others.

export const MODULE_SIGNATURE_MAGIC = "~Module signature appended~\n";
const MAGIC = Buffer.from(MODULE_SIGNATURE_MAGIC, "latin1");
const INFO_LEN = 12;
const PKEY_ID_PKCS7 = 2;

function endsWithMagic(file: Uint8Array): boolean {
  if (file.byteLength < MAGIC.length) return false;
  const tail = file.subarray(file.byteLength - MAGIC.length);
  for (let i = 0; i < MAGIC.length; i++) if (tail[i] !== MAGIC[i]) return false;
  return true;
}

/**
 * Splits a .ko with an appended kernel signature into module bytes and the detached CMS.
 * No magic -> { module: file, signature: null }. A trailer that is truncated or lies (sig_len
 * past the file, an id_type other than PKCS#7, non-zero fields) -> ModuleFormatError.
 * The returned module and signature are views into `file`.
 */
export function splitKernelSignature(file: Uint8Array): SplitModule {
  if (!endsWithMagic(file)) return { module: file, signature: null };
  const body = file.byteLength - MAGIC.length;
  if (body < INFO_LEN) throw new ModuleFormatError(`kernel signature trailer is truncated: ${body} bytes before the magic, the signature info alone needs ${INFO_LEN}`);
  const info = file.subarray(body - INFO_LEN, body);
  const view = new DataView(info.buffer, info.byteOffset, INFO_LEN);
  const trailer: KernelTrailer = {
    algo: info[0]!,
    hash: info[1]!,
    idType: info[2]!,
    signerLen: info[3]!,
    keyIdLen: info[4]!,
    sigLen: view.getUint32(8, false),
  };
  const room = body - INFO_LEN;
  // Same bound as the kernel's mod_check_sig: the signature may not swallow the whole module.
  if (trailer.sigLen === 0) throw new ModuleFormatError("kernel signature trailer declares sig_len 0");
  if (trailer.sigLen >= room) throw new ModuleFormatError(`kernel signature trailer declares sig_len ${trailer.sigLen} but only ${room} bytes precede it (the signature would run past the start of the file)`);
  if (trailer.idType !== PKEY_ID_PKCS7) throw new ModuleFormatError(`kernel signature trailer has id_type ${trailer.idType}; only ${PKEY_ID_PKCS7} (PKCS#7) is supported`);
  if (trailer.algo !== 0 || trailer.hash !== 0 || trailer.signerLen !== 0 || trailer.keyIdLen !== 0 || info[5] !== 0 || info[6] !== 0 || info[7] !== 0) {
    throw new ModuleFormatError("kernel signature trailer has non-zero algo/hash/signer_len/key_id_len/pad fields, which PKCS#7 signatures must leave zero");
  }
  const sigStart = room - trailer.sigLen;
  return { module: file.subarray(0, sigStart), signature: file.subarray(sigStart, room), trailer };
}

/** The kernel trailer for a detached CMS: what `scripts/sign-file` appends after the module. */
export function kernelTrailer(cmsLength: number): Uint8Array {
  const out = new Uint8Array(INFO_LEN + MAGIC.length);
  out[2] = PKEY_ID_PKCS7;
  new DataView(out.buffer).setUint32(8, cmsLength, false);
  out.set(MAGIC, INFO_LEN);
  return out;
}

/** module + CMS + trailer: a kernel-format signed module. */
export function appendKernelSignature(module: Uint8Array, cms: Uint8Array): Uint8Array {
  const out = new Uint8Array(module.byteLength + cms.byteLength + INFO_LEN + MAGIC.length);
  out.set(module, 0);
  out.set(cms, module.byteLength);
  out.set(kernelTrailer(cms.byteLength), module.byteLength + cms.byteLength);
  return out;
}
