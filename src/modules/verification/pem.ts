import { ModuleFormatError } from "./errors.js";

export interface PemBlock {
  label: string;
  der: Uint8Array;
  /** 1-based position among the blocks, for messages. */
  index: number;
}

const BLOCK = /-----BEGIN ([A-Z0-9 #]{1,40})-----([^-]*)-----END ([A-Z0-9 #]{1,40})-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** DER certificates and CMS messages are SEQUENCEs, so start with 0x30; anything else is read as PEM text (which may have text before its blocks). */
export function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== 0x30;
}

/**
 * Every PEM block in the text. Text between blocks is ignored (bundles often carry "subject=" lines),
 * but a BEGIN without its END, or a body that is not base64, is an error naming the block.
 */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let consumedTo = 0;
  for (const m of text.matchAll(BLOCK)) {
    const index = blocks.length + 1;
    const [whole, label = "", body = "", endLabel = ""] = m;
    if (text.slice(consumedTo, m.index).includes("-----BEGIN")) throw new ModuleFormatError(`PEM block ${index} has no END line`);
    if (label !== endLabel) throw new ModuleFormatError(`PEM block ${index}: BEGIN ${label} ends with END ${endLabel}`);
    const b64 = body.replace(/\s+/g, "");
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) throw new ModuleFormatError(`PEM block ${index} (${label}) is not valid base64`);
    blocks.push({ label, der: new Uint8Array(Buffer.from(b64, "base64")), index });
    consumedTo = (m.index ?? 0) + whole.length;
  }
  if (text.slice(consumedTo).includes("-----BEGIN")) throw new ModuleFormatError(`PEM block ${blocks.length + 1} has no END line`);
  return blocks;
}
