import type { SecretMaterial } from "../events/catalog/secret.js";
import { SecretBackendError, SecretDestroyedError, SecretWriteConflictError, type SecretBackend } from "./backend.js";

// HashiCorp Vault / OpenBao KV version 2 over HTTP (fetch; no SDK). Each secret version is its own
// KV path (<prefix><secret>/v<version>), written with cas=0, "only if it does not exist": a
// version is written once. A retry after a crash between the write and its event finds the orphan
// it left and replaces it with cas=<its KV version>, still a check-and-set; the event records the
// KV version it points at, so a replaced orphan is never what anything reads. Destroy deletes the
// path's metadata, which removes every KV version of it for good.

export interface VaultBackendOptions {
  /** e.g. http://127.0.0.1:8200 */
  address: string;
  token: string;
  /** the KV v2 mount, e.g. "secret" */
  mount: string;
  /** path prefix below the mount, e.g. "korch/" */
  prefix: string;
  namespace?: string;
  /** per request; the rotation retries what times out */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface KvWriteAnswer {
  data?: { version?: number };
}
interface KvReadAnswer {
  data?: { data?: { value?: string }; metadata?: { destroyed?: boolean; deletion_time?: string; version?: number } };
}
interface KvMetadataAnswer {
  data?: { current_version?: number };
}

const CAS_MISMATCH = /check-and-set/i;

export class VaultSecretBackend implements SecretBackend {
  readonly kind = "vault" as const;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: VaultBackendOptions) {
    this.base = options.address.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? fetch;
  }

  pathOf(secret: string, version: number): string {
    return `${this.options.prefix}${encodeURIComponent(secret)}/v${version}`;
  }

  async write(secret: string, version: number, value: Buffer): Promise<SecretMaterial> {
    const path = this.pathOf(secret, version);
    const body = (cas: number) => ({ options: { cas }, data: { value: value.toString("base64") } });
    let answer = await this.call("POST", `data/${path}`, body(0));
    if (answer.status === 400 && CAS_MISMATCH.test(answer.text)) {
      // an orphan of an earlier attempt at this version (nothing recorded points at it): replace it, still check-and-set
      const meta = await this.call("GET", `metadata/${path}`);
      const current = meta.status === 200 ? (meta.json as KvMetadataAnswer).data?.current_version : undefined;
      if (typeof current !== "number") throw new SecretWriteConflictError(`${path}: check-and-set failed and its current version is unknown`);
      answer = await this.call("POST", `data/${path}`, body(current));
      if (answer.status === 400 && CAS_MISMATCH.test(answer.text)) throw new SecretWriteConflictError(`${path}: written by someone else meanwhile`);
    }
    if (answer.status !== 200) throw this.failure("write", path, answer);
    const vaultVersion = (answer.json as KvWriteAnswer).data?.version;
    if (typeof vaultVersion !== "number") throw new SecretBackendError(`vault answered a write of ${path} without its version`);
    return { backend: "vault", path, vaultVersion };
  }

  async read(secret: string, version: number, material: SecretMaterial): Promise<Buffer> {
    if (material.backend !== "vault") throw new SecretBackendError(`version ${version} of ${secret} is stored in ${material.backend}, not in Vault`);
    if (material.path !== this.pathOf(secret, version)) throw new SecretBackendError(`${material.path} does not belong to version ${version} of ${secret}`);
    const answer = await this.call("GET", `data/${material.path}?version=${material.vaultVersion}`);
    // KV v2 answers 404 for a deleted or destroyed version, and for a path whose metadata is gone
    if (answer.status === 404) throw new SecretDestroyedError(secret, version);
    if (answer.status !== 200) throw this.failure("read", material.path, answer);
    const data = (answer.json as KvReadAnswer).data;
    if (data?.metadata?.destroyed || data?.metadata?.deletion_time) throw new SecretDestroyedError(secret, version);
    const value = data?.data?.value;
    if (typeof value !== "string") throw new SecretBackendError(`${material.path} holds no value`);
    return Buffer.from(value, "base64");
  }

  async destroy(_secret: string, _version: number, material: SecretMaterial): Promise<void> {
    if (material.backend !== "vault") return;
    const answer = await this.call("DELETE", `metadata/${material.path}`);
    if (answer.status !== 204 && answer.status !== 200 && answer.status !== 404) throw this.failure("destroy", material.path, answer);
  }

  async check(): Promise<void> {
    const res = await this.request("GET", `${this.base}/v1/sys/health`);
    // 200 active, 429 standby (unsealed): both serve reads through the active node
    if (res.status !== 200 && res.status !== 429) throw new SecretBackendError(`vault health answered ${res.status}`);
  }

  async close(): Promise<void> {}

  private call(method: string, rest: string, body?: unknown) {
    return this.request(method, `${this.base}/v1/${this.options.mount}/${rest}`, body);
  }

  private async request(method: string, url: string, body?: unknown): Promise<{ status: number; text: string; json: unknown }> {
    const headers: Record<string, string> = { "X-Vault-Token": this.options.token, "X-Vault-Request": "true" };
    if (this.options.namespace) headers["X-Vault-Namespace"] = this.options.namespace;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new SecretBackendError(`vault ${method} ${new URL(url).pathname} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  private failure(op: string, path: string, answer: { status: number; text: string }): SecretBackendError {
    // Vault's errors name paths and policies, never values; cut them short anyway
    return new SecretBackendError(`vault ${op} of ${path} answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
}
