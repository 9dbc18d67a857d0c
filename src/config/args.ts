/**
 * Command-line flags shared by every mxpress command that loads configuration.
 *
 * One table (`CONFIG_FLAGS`) names each flag, its value, whether it repeats, its
 * environment variable and its help line; the CLI's help text and the loader both
 * read it. `parseConfigFlags` tokenizes argv with node:util parseArgs and refuses
 * unknown flags (with a suggestion), stray arguments, missing values and repeats of
 * a single-valued flag, throwing `ConfigError` naming the flag. Operator input only.
 */
import { parseArgs } from 'node:util';
import { ConfigError, suggest } from './errors.ts';

export interface FlagSpec {
  /** Long name without dashes. */
  readonly name: string;
  /** Placeholder shown in help, e.g. `ADDR:PORT`. */
  readonly value: string;
  readonly repeatable: boolean;
  readonly help: string;
}

export const CONFIG_FLAGS: readonly FlagSpec[] = [
  { name: 'config', value: 'FILE', repeatable: false, help: 'YAML config file (or MXPRESS_CONFIG)' },
  { name: 'data-dir', value: 'DIR', repeatable: false, help: 'where the spool and TLS files live (./data)' },
  {
    name: 'smtp',
    value: 'ADDR:PORT',
    repeatable: true,
    help: 'add an SMTP listener, e.g. 127.0.0.1:2525 or [::1]:2525 (replaces the default one)',
  },
  { name: 'http', value: 'ADDR:PORT', repeatable: false, help: 'HTTP API address (127.0.0.1:8025)' },
  {
    name: 'dns-server',
    value: 'IP[:PORT]',
    repeatable: true,
    help: 'DNS server to ask for MX records (default: the system resolvers)',
  },
  { name: 'mx-port', value: 'N', repeatable: false, help: 'port to deliver to on MX hosts (25)' },
  {
    name: 'hostname',
    value: 'NAME',
    repeatable: false,
    help: 'name used in EHLO, the banner and Received (os hostname)',
  },
  {
    name: 'trusted-network',
    value: 'CIDR',
    repeatable: true,
    help: 'clients that may send without AUTH; replaces the list (127.0.0.0/8, ::1/128)',
  },
  {
    name: 'retry-intervals',
    value: 'LIST',
    repeatable: false,
    help: 'waits between attempts, last one repeats (5m,10m,30m,1h,2h,4h,8h)',
  },
  {
    name: 'max-queue-time',
    value: 'DURATION',
    repeatable: false,
    help: 'give up and bounce after this long (5d)',
  },
  {
    name: 'log-level',
    value: 'LEVEL',
    repeatable: false,
    help: 'trace, debug, info, warn, error or silent (info)',
  },
];

/** `data-dir` -> `MXPRESS_DATA_DIR`. */
export function envNameOf(flag: string): string {
  return `MXPRESS_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Flag name -> the values given, in order (single-valued flags hold one). */
export type ParsedFlags = ReadonlyMap<string, readonly string[]>;

const ORIGIN = 'command line';

export function parseConfigFlags(argv: readonly string[]): ParsedFlags {
  const options = Object.fromEntries(
    CONFIG_FLAGS.map((f) => [f.name, { type: 'string' as const, multiple: f.repeatable }]),
  );
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const byName = new Map(CONFIG_FLAGS.map((f) => [f.name, f]));
  const values = new Map<string, string[]>();
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      throw new ConfigError({
        key: token.value,
        problem: 'unexpected argument (flags look like --name value)',
        origin: ORIGIN,
      });
    }
    const spec = byName.get(token.name);
    if (spec === undefined) {
      const near = suggest(token.name, [...byName.keys()]);
      const hint = near === undefined ? 'see --help' : `did you mean --${near}?`;
      throw new ConfigError({ key: token.rawName, problem: `unknown option (${hint})`, origin: ORIGIN });
    }
    const value = token.value;
    if (
      value === undefined ||
      (token.inlineValue === false && value.startsWith('-') && value.length > 1 && !/^-\d/.test(value))
    ) {
      throw new ConfigError({
        key: token.rawName,
        problem: `needs a value: --${spec.name} ${spec.value}`,
        origin: ORIGIN,
      });
    }
    const seen = values.get(spec.name) ?? [];
    if (seen.length > 0 && !spec.repeatable) {
      throw new ConfigError({ key: token.rawName, problem: 'given more than once', origin: ORIGIN });
    }
    seen.push(value);
    values.set(spec.name, seen);
  }
  return values;
}
