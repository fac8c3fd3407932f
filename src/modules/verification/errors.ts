/**
 * The input is not what it claims to be (a trailer that lies, a signature that is not CMS, a PEM
 * block that is not a certificate). Callers answer 4xx with `message`; nothing else these
 * functions throw is expected.
 */
export class ModuleFormatError extends Error {
  override readonly name = "ModuleFormatError";
  constructor(message: string) {
    super(message);
  }
}
