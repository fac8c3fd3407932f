import { randomUUID } from "node:crypto";
import { DomainError, invalid, notFound } from "../commands/errors.js";
import { handleCommand, type CommandContext, type CommandResult } from "../commands/handler.js";
import { secretDecider, versionOf, type SecretCommand, type SecretState } from "../commands/secret.js";
import type { DomainEvent } from "../commands/decider.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import type { Clock } from "../platform/clock.js";
import type { Config } from "../platform/config.js";
import type { Logger } from "../platform/logger.js";
import { deterministicUuid } from "../platform/ids.js";
import type { SecretBackend } from "./backend.js";
import type { SecretKindHandler, SecretKindRegistry } from "./kind.js";
import { DEFAULT_POLICY, generalPolicyProblem, resolvePolicy, type SecretPolicy, type SecretPolicyInput } from "./policy.js";
import type { SecretDirectory } from "./read-model.js";

/** Secret names: they become stream ids, Vault paths and metric labels. */
export const SECRET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const SECRET_NAME_RULE = "lowercase letters, digits, . _ -; 1-63 characters, starting with a letter or digit";


export interface SecretsServiceDeps {
  log: EventLog;
  directory: SecretDirectory;
  backend: SecretBackend;
  kinds: SecretKindRegistry;
  config: Config;
  clock: Clock;
  logger: Pick<Logger, "warn" | "info" | "error">;
  /** a rotation rolled back by hand, for secret_rotations_total */
  onRolledBack?: (kind: string) => void;
}

const fieldError = (path: string, message: string) => ({ errors: [{ path, message }] });

export interface CreateSecretInput {
  name: string;
  kind: string;
  /** UTF-8 text; only for kinds that take a caller's value */
  value?: string;
  policy?: SecretPolicyInput;
}

/**
 * The write side of secrets as the API, the CLI and the composition root use it: validates input
 * (naming the field), moves values through the backend (never into an event in clear), and runs
 * commands through the secret decider. Rotation itself is the process's
 * (src/processes/secret-rotation.ts); this only requests it.
 */
export class SecretsService {
  constructor(private readonly deps: SecretsServiceDeps) {}

  kindOf(kind: string, path = "json.kind"): SecretKindHandler {
    const handler = this.deps.kinds.get(kind);
    if (!handler) throw invalid(`unknown kind ${JSON.stringify(kind)}; known: ${this.deps.kinds.names().join(", ")}`, fieldError(path, "unknown kind"));
    return handler;
  }

  /** The policy the input makes over `base`, or 400 naming the field. */
  policyFrom(handler: SecretKindHandler, base: SecretPolicy, input: SecretPolicyInput | undefined, pathPrefix: string): SecretPolicy {
    const policy = resolvePolicy(base, input);
    const problem = generalPolicyProblem(policy) ?? handler.policyProblem?.(policy, this.deps.config) ?? null;
    if (problem) throw invalid(`policy.${problem.field} ${problem.message}`, fieldError(`${pathPrefix}${problem.field}`, problem.message));
    return policy;
  }

  async create(input: CreateSecretInput, ctx: CommandContext, options: { trusted?: boolean } = {}): Promise<CommandResult<SecretState>> {
    if (!SECRET_NAME.test(input.name)) throw invalid(`name: ${SECRET_NAME_RULE}`, fieldError("json.name", SECRET_NAME_RULE));
    const handler = this.kindOf(input.kind);
    // a seed from the environment (AGENT_JOIN_TOKEN) is trusted; callers of generated kinds are not
    if (input.value !== undefined && !handler.clientValueAllowed && !options.trusted) {
      throw invalid(`a ${input.kind} secret's value is generated; do not send one`, fieldError("json.value", "not allowed for this kind"));
    }
    const given = input.value !== undefined ? Buffer.from(input.value, "utf8") : undefined;
    const valueProblem = given ? handler.valueProblem?.(given) : null;
    if (valueProblem) throw invalid(`value ${valueProblem}`, fieldError("json.value", valueProblem));
    const policy = this.policyFrom(handler, handler.defaultPolicy?.(this.deps.config) ?? DEFAULT_POLICY, input.policy, "json.policy.");
    if (this.deps.directory.get(input.name)?.exists) throw new DomainError("conflict", `secret ${input.name} already exists`, fieldError("json.name", "already exists"));

    const now = ctx.now;
    const made = given ? { value: given, publicInfo: undefined } : await handler.generate({ name: input.name, version: 1, policy, now });
    const material = await this.deps.backend.write(input.name, 1, made.value);
    made.value.fill(0);
    try {
      return await this.command(
        input.name,
        { type: "CreateSecret", name: input.name, kind: input.kind, policy, first: { version: 1, material, ...(made.publicInfo ? { publicInfo: made.publicInfo } : {}) }, now },
        ctx,
      );
    } catch (err) {
      // nothing recorded points at it: destroy what was stored (a lost race, or the log refused)
      await this.deps.backend.destroy(input.name, 1, material).catch((e: unknown) => this.deps.logger.warn({ err: e, secret: input.name }, "could not destroy an unrecorded secret value"));
      throw err;
    }
  }

  async rotate(name: string, input: { reason?: string; expectedVersion?: number }, ctx: CommandContext): Promise<{ rotationId: string; position: number }> {
    const state = this.existing(name);
    if (!this.deps.kinds.get(state.kind)) throw new DomainError("conflict", `this instance does not know how to rotate a ${state.kind} secret`);
    const rotationId = ctx.idempotencyKey ? deterministicUuid(`rotation:${ctx.actor.id}:${ctx.idempotencyKey}:${name}`) : randomUUID();
    const r = await this.command(
      name,
      { type: "RequestRotation", rotationId, reason: input.reason?.trim() || "requested", scheduled: false, requestedBy: ctx.actor.id, expectedVersion: input.expectedVersion, now: ctx.now },
      ctx,
    );
    return { rotationId, position: r.position };
  }

  async rollback(name: string, input: { reason?: string; expectedVersion?: number }, ctx: CommandContext): Promise<CommandResult<SecretState>> {
    this.existing(name);
    const r = await this.command(name, { type: "Rollback", reason: input.reason?.trim() || `rolled back by ${ctx.actor.id}`, expectedVersion: input.expectedVersion, now: ctx.now }, ctx);
    if (r.events.some((e) => e.type === "RotationRolledBack")) this.deps.onRolledBack?.(r.state.kind);
    return r;
  }

  async changePolicy(name: string, input: SecretPolicyInput, expectedVersion: number | undefined, ctx: CommandContext): Promise<CommandResult<SecretState>> {
    const state = this.existing(name);
    const handler = this.kindOf(state.kind, "path.name");
    const policy = this.policyFrom(handler, state.policy, input, "json.");
    return this.command(name, { type: "ChangePolicy", policy, expectedVersion, now: ctx.now }, ctx);
  }

  async destroyVersion(name: string, version: number, ctx: CommandContext): Promise<CommandResult<SecretState>> {
    this.existing(name);
    return this.command(name, { type: "DestroyVersion", version, reason: `destroyed by ${ctx.actor.id}`, now: ctx.now }, ctx);
  }

  /** A person reading a value: recorded (SecretValueRead) before it is decrypted and returned. */
  async readValue(name: string, version: number | undefined, ctx: CommandContext): Promise<{ version: number; value: string; position: number }> {
    const state = this.existing(name);
    // only kinds that say so (a value the caller gave, or one someone must hand out); never a private key
    if (!this.deps.kinds.get(state.kind)?.valueReadable) throw new DomainError("forbidden", `values of ${state.kind} secrets never leave the service`);
    const wanted = version ?? state.labels.current;
    if (wanted === null) throw notFound(`a current version of secret ${name}`);
    const r = await this.command(name, { type: "RecordValueRead", version: wanted, now: ctx.now }, ctx);
    const v = versionOf(r.state, wanted)!;
    const value = await this.deps.backend.read(name, wanted, v.material);
    return { version: wanted, value: value.toString("utf8"), position: r.position };
  }

  /**
   * Creates the built-in secrets this instance has kinds for, once: a second start, or a second
   * instance starting at the same time, finds them (the stream's expected revision decides).
   */
  async seed(seeds: readonly { name: string; kind: string; value?: string }[], ctx: CommandContext): Promise<string[]> {
    const created: string[] = [];
    for (const s of seeds) {
      if (!this.deps.kinds.get(s.kind)) continue;
      const existing = await this.deps.log.readStream(streams.secret(s.name), { maxCount: 1 });
      if (existing.length) continue;
      try {
        await this.create({ name: s.name, kind: s.kind, value: s.value }, ctx, { trusted: true });
        created.push(s.name);
      } catch (err) {
        if (!(err instanceof DomainError && err.code === "conflict")) throw err;
      }
    }
    return created;
  }

  /** Destroys in the backend what the log says is destroyed (idempotent): after a command, and at start for a crash in between. */
  async shred(name: string, state: SecretState, versions: number[]): Promise<void> {
    for (const version of versions) {
      const v = versionOf(state, version);
      if (!v) continue;
      await this.deps.backend.destroy(name, version, v.material);
    }
  }

  private existing(name: string): SecretState {
    const state = this.deps.directory.get(name);
    if (!state?.exists) throw notFound(`secret ${name}`);
    return state;
  }

  private async command(name: string, command: SecretCommand, ctx: CommandContext): Promise<CommandResult<SecretState>> {
    const r = await handleCommand(this.deps.log, streams.secret(name), secretDecider, command, ctx);
    const destroyed = destroyedIn(r.events);
    if (destroyed.length) {
      await this.shred(name, r.state, destroyed).catch((err: unknown) =>
        // the log says destroyed; the rotation process shreds again at its next start or step
        this.deps.logger.error({ err, secret: name, versions: destroyed }, "could not destroy secret values in the backend yet"),
      );
    }
    return r;
  }
}

export function destroyedIn(events: DomainEvent[]): number[] {
  return events.filter((e) => e.type === "SecretVersionDestroyed").map((e) => (e.data as { version: number }).version);
}
