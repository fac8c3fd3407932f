import { z } from "zod";
import type { SecretPolicyStored } from "../events/catalog/secret.js";

/** A secret's policy (the stored shape is the type; the rules below judge input only). */
export type SecretPolicy = SecretPolicyStored;

const DAY_S = 86_400;

/** daily/weekly/monthly are names for 1/7/30 days; any other positive number is a custom interval */
export const IntervalNames = { daily: 1, weekly: 7, monthly: 30 } as const;

const days = z.number().positive().max(36_500);

/**
 * The policy as a caller may send it: every field optional (defaults, or the secret's current
 * policy on PUT), unknown fields refused. Cross-field and per-kind rules (overlap against token
 * lifetimes) are judged by validatePolicy, which names the field.
 */
export const SecretPolicyInputSchema = z
  .object({
    intervalDays: z.union([days, z.enum(["daily", "weekly", "monthly"]), z.null()]).optional(),
    overlapSeconds: z.number().int().min(0).max(365 * DAY_S).optional(),
    notifyBeforeDays: days.nullable().optional(),
    expiresAfterDays: days.nullable().optional(),
    maxVersions: z.number().int().min(2).max(100).optional(),
  })
  .strict();
export type SecretPolicyInput = z.infer<typeof SecretPolicyInputSchema>;

export const DEFAULT_POLICY: SecretPolicy = {
  intervalDays: null,
  overlapSeconds: 3600,
  notifyBeforeDays: null,
  expiresAfterDays: null,
  maxVersions: 10,
};

/** The input laid over a base policy (defaults, a kind's defaults, or the secret's current policy). */
export function resolvePolicy(base: SecretPolicy, input: SecretPolicyInput | undefined): SecretPolicy {
  const i = input ?? {};
  const interval = i.intervalDays === undefined ? base.intervalDays : typeof i.intervalDays === "string" ? IntervalNames[i.intervalDays] : i.intervalDays;
  return {
    intervalDays: interval,
    overlapSeconds: i.overlapSeconds ?? base.overlapSeconds,
    notifyBeforeDays: i.notifyBeforeDays === undefined ? base.notifyBeforeDays : i.notifyBeforeDays,
    expiresAfterDays: i.expiresAfterDays === undefined ? base.expiresAfterDays : i.expiresAfterDays,
    maxVersions: i.maxVersions ?? base.maxVersions,
  };
}

/** A rule the policy breaks, with the field it names (under `json.policy.` at the HTTP edge), or null. */
export interface PolicyProblem {
  field: keyof SecretPolicy;
  message: string;
}

/** Rules that hold for every kind. */
export function generalPolicyProblem(p: SecretPolicy): PolicyProblem | null {
  if (p.notifyBeforeDays !== null && p.expiresAfterDays === null) {
    return { field: "notifyBeforeDays", message: "an expiry warning needs expiresAfterDays" };
  }
  if (p.notifyBeforeDays !== null && p.expiresAfterDays !== null && p.notifyBeforeDays >= p.expiresAfterDays) {
    return { field: "notifyBeforeDays", message: "must be less than expiresAfterDays" };
  }
  if (p.intervalDays !== null && p.overlapSeconds > p.intervalDays * DAY_S) {
    return { field: "overlapSeconds", message: "must not exceed the rotation interval (previous would outlive its successor)" };
  }
  return null;
}
