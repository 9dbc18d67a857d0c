/**
 * Fills the `smtp.abuse` section from the validated file layer and the defaults.
 *
 * Input: the section as schema-abuse.ts produced it (or undefined). Output: a
 * complete `AbuseConfig`. No cross-key rules: the schema range-checks every value.
 * Pure; cannot fail.
 */
import { DEFAULT_ABUSE } from './defaults.ts';
import type { FileLayer } from './schema.ts';
import type { AbuseConfig, RateLimits } from './types.ts';

type AbuseLayer = NonNullable<NonNullable<FileLayer['smtp']>['abuse']>;
type RateLayer = AbuseLayer['perIp'];

function rates(given: RateLayer, defaults: RateLimits): RateLimits {
  return {
    messagesPerMinute: given?.messagesPerMinute ?? defaults.messagesPerMinute,
    recipientsPerMinute: given?.recipientsPerMinute ?? defaults.recipientsPerMinute,
  };
}

export function buildAbuse(given: AbuseLayer | undefined): AbuseConfig {
  const d = DEFAULT_ABUSE;
  const a = given?.auth;
  return {
    applyToTrusted: given?.applyToTrusted ?? d.applyToTrusted,
    maxTrackedKeys: given?.maxTrackedKeys ?? d.maxTrackedKeys,
    auth: {
      maxFailuresPerIp: a?.maxFailuresPerIp ?? d.auth.maxFailuresPerIp,
      maxFailuresPerUser: a?.maxFailuresPerUser ?? d.auth.maxFailuresPerUser,
      failureWindowMs: a?.failureWindow ?? d.auth.failureWindowMs,
      lockoutMs: a?.lockout ?? d.auth.lockoutMs,
      failureDelayMs: a?.failureDelay ?? d.auth.failureDelayMs,
    },
    perIp: rates(given?.perIp, d.perIp),
    perUser: rates(given?.perUser, d.perUser),
    perSender: rates(given?.perSender, d.perSender),
    mailbombPerHour: given?.mailbombPerHour ?? d.mailbombPerHour,
  };
}
