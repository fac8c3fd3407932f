import { ModuleFormatError } from "./errors.js";
import type { SplitModule } from "./types.js";

export const MODULE_SIGNATURE_MAGIC = "~Module signature appended~\n";

/** Splits a .ko with an appended kernel signature into module bytes and the detached CMS. */
export function splitKernelSignature(file: Uint8Array): SplitModule {
  throw new ModuleFormatError("not implemented yet");
}
