/**
 * The environment and command-line layers: MXPRESS_* variables and flags.
 *
 * Both name the same settings (the table in args.ts); repeatable flags are comma
 * lists in the environment (`MXPRESS_SMTP=127.0.0.1:2525,[::1]:2525`). Each layer
 * becomes an `OverrideLayer` of typed values; flags then override the environment
 * setting by setting. An empty variable counts as unset. An MXPRESS_* variable that
 * names no setting is an error (typo safety). Relative paths resolve against cwd.
 * Throws `ConfigError` naming the flag or variable. Operator input only.
 */
import { resolve } from 'node:path';
import { CONFIG_FLAGS, envNameOf, type ParsedFlags } from './args.ts';
import { ConfigError, FieldProblem, suggest } from './errors.ts';
import {
  type HostPort,
  LOG_LEVELS,
  type LogLevel,
  parseCidrText,
  parseDnsServer,
  parseHostname,
  parseHostPort,
  parseOneOf,
  parsePath,
  parsePort,
  splitList,
} from './fields.ts';
import { parseDuration } from './units.ts';

export interface OverrideLayer {
  readonly configFile?: string;
  readonly hostname?: string;
  readonly dataDir?: string;
  /** Added to the config file's listeners. */
  readonly listeners?: readonly HostPort[];
  readonly http?: HostPort;
  readonly dnsServers?: readonly string[];
  readonly mxPort?: number;
  /** Replaces the list. */
  readonly trustedNetworks?: readonly string[];
  readonly retryIntervalsMs?: readonly number[];
  readonly maxQueueTimeMs?: number;
  readonly logLevel?: LogLevel;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Apply = (layer: Mutable<OverrideLayer>, values: readonly string[], cwd: string) => void;

const DAY = 86_400_000;

const APPLY: Readonly<Record<string, Apply>> = {
  config: (l, v, cwd) => {
    l.configFile = resolve(cwd, parsePath(v[0]));
  },
  'data-dir': (l, v, cwd) => {
    l.dataDir = resolve(cwd, parsePath(v[0]));
  },
  smtp: (l, v) => {
    l.listeners = v.map((s) => parseHostPort(s, true));
  },
  http: (l, v) => {
    l.http = parseHostPort(v[0], true);
  },
  'dns-server': (l, v) => {
    l.dnsServers = v.map(parseDnsServer);
  },
  'mx-port': (l, v) => {
    l.mxPort = parsePort(v[0]);
  },
  hostname: (l, v) => {
    l.hostname = parseHostname(v[0]);
  },
  'trusted-network': (l, v) => {
    l.trustedNetworks = v.map(parseCidrText);
  },
  'retry-intervals': (l, v) => {
    const items = splitList(v[0] ?? '');
    if (items.length > 100) throw new FieldProblem('at most 100 retry intervals are allowed');
    l.retryIntervalsMs = items.map((s) => parseDuration(s, { max: 30 * DAY }));
  },
  'max-queue-time': (l, v) => {
    l.maxQueueTimeMs = parseDuration(v[0], { max: 365 * DAY });
  },
  'log-level': (l, v) => {
    l.logLevel = parseOneOf(LOG_LEVELS)(v[0]);
  },
};

function applyOne(
  layer: Mutable<OverrideLayer>,
  name: string,
  values: readonly string[],
  cwd: string,
  key: string,
  origin: string,
): void {
  const apply = APPLY[name];
  if (apply === undefined) throw new Error(`no handler for setting ${name}`);
  try {
    apply(layer, values, cwd);
  } catch (error) {
    if (error instanceof FieldProblem) throw new ConfigError({ key, problem: error.message, origin });
    throw error;
  }
}

/** Reads the MXPRESS_* variables. */
export function parseEnvLayer(env: Readonly<Record<string, string | undefined>>, cwd: string): OverrideLayer {
  const layer: Mutable<OverrideLayer> = {};
  const known = new Map(CONFIG_FLAGS.map((f) => [envNameOf(f.name), f]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('MXPRESS_') || raw === undefined || raw.trim() === '') continue;
    const spec = known.get(name);
    if (spec === undefined) {
      const near = suggest(name, [...known.keys()]);
      const hint = near === undefined ? `known: ${[...known.keys()].join(', ')}` : `did you mean ${near}?`;
      throw new ConfigError({ key: name, problem: `unknown setting (${hint})`, origin: 'environment' });
    }
    let values: readonly string[] = [raw];
    if (spec.repeatable) {
      try {
        values = splitList(raw);
      } catch (error) {
        if (error instanceof FieldProblem)
          throw new ConfigError({ key: name, problem: error.message, origin: 'environment' });
        throw error;
      }
    }
    applyOne(layer, spec.name, values, cwd, name, 'environment');
  }
  return layer;
}

/** Turns parsed flags into typed values. */
export function parseFlagLayer(flags: ParsedFlags, cwd: string): OverrideLayer {
  const layer: Mutable<OverrideLayer> = {};
  for (const [name, values] of flags) applyOne(layer, name, values, cwd, `--${name}`, 'command line');
  return layer;
}
