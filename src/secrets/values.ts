import { versionOf } from "../commands/secret.js";
import type { SecretBackend } from "./backend.js";
import { SecretDestroyedError } from "./backend.js";
import type { SecretDirectory } from "./read-model.js";

export class SecretNotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = "SecretNotFoundError";
  }
}

/**
 * Decrypts secret values through the backend, for the service's own use (signing keys, the join
 * token, a kind's test step). Not audited here: what a person reads goes through the value route,
 * which records SecretValueRead before it answers.
 */
export class SecretValues {
  constructor(
    private readonly backend: SecretBackend,
    private readonly directory: SecretDirectory,
  ) {}

  /** The value of one version; SecretNotFoundError for an unknown secret or version, SecretDestroyedError once destroyed. */
  async read(name: string, version: number): Promise<Buffer> {
    const state = this.directory.get(name);
    if (!state?.exists) throw new SecretNotFoundError(`secret ${name}`);
    const v = versionOf(state, version);
    if (!v) throw new SecretNotFoundError(`version ${version} of secret ${name}`);
    if (v.destroyed) throw new SecretDestroyedError(name, version);
    return this.backend.read(name, version, v.material);
  }

  /** The current version and its value. */
  async current(name: string): Promise<{ version: number; value: Buffer }> {
    const version = this.directory.get(name)?.labels.current;
    if (version === undefined || version === null) throw new SecretNotFoundError(`current version of secret ${name}`);
    return { version, value: await this.read(name, version) };
  }
}
