/**
 * `mxpress doctor [--probe-domain D] [--public-ip IP] [--sender-domain D] [--json]
 * [config flags]`: checks what direct delivery depends on and says, for each,
 * pass, warn or fail and what to do (doctor/checks.ts): DNS, outbound port 25,
 * PTR, SPF, DKIM, DMARC, the TLS certificate.
 *
 * In: the configuration as `start` loads it (--config, --dns-server, --hostname,
 * --mx-port, ...) plus the doctor's flags. Out: one line per check (colored on a
 * terminal) or JSON. Exit 0 with no fail, 1 with any fail, 64 usage, 78 a bad
 * configuration. Bounded: every check has its own time limit (offline it
 * finishes with warnings, it never hangs). Nothing is created or changed.
 */
import { isIP } from 'node:net';
import { ConfigError, loadConfig } from '../../../config/load.ts';
import { createResolver } from '../../../delivery/dns/resolver.ts';
import { type CliIo, EXIT } from '../io.ts';
import { clean, painter } from './api-common.ts';
import type { Command } from './command.ts';
import {
  type Check,
  checkDkim,
  checkDmarc,
  checkDns,
  checkPort25,
  checkPtr,
  checkSpf,
  checkTls,
  type DoctorOptions,
} from './doctor/checks.ts';
import { configFlagsHelp } from './flags-help.ts';

const DEFAULT_PROBE = 'gmail.com';
const DNS_TIMEOUT_MS = 2_000;
const CONNECT_MS = 5_000;
/** Upper bound for any single check, whatever the resolver's retries add up to. */
const CHECK_LIMIT_MS = 20_000;

const HELP = `Usage: mxpress doctor [--probe-domain DOMAIN] [--public-ip IP] [--sender-domain DOMAIN] [--json] [config flags]

Checks what direct delivery needs, each with pass/warn/fail and the fix:
  dns     the DNS servers answer (MX of the probe domain, through mxpress's resolver)
  port25  outbound port 25 reaches the probe domain's MX (${CONNECT_MS / 1000} s limit; blocked = warn)
  ptr     the public address's PTR names the HELO host name and resolves back
  spf     one SPF record at the sender domain
  dkim    the configured selector's record carries the key mxpress signs with
  dmarc   a DMARC record at _dmarc.<sender domain>
  tls     the certificate (configured or self-signed): expiry and host name

  --probe-domain DOMAIN   domain whose MX is tried (default ${DEFAULT_PROBE})
  --public-ip IP          this host's public address (without it the PTR check cannot tell)
  --sender-domain DOMAIN  domain you send as (default: the first DKIM domain, else the host name's domain)
  --json                  the checks as JSON

Exit: 0 no fail, 1 some fail, 64 usage, 78 bad configuration.

${configFlagsHelp()}`;

interface DoctorFlags {
  probeDomain?: string;
  publicIp?: string;
  senderDomain?: string;
  json: boolean;
  rest: string[];
}

class DoctorUsage extends Error {}

function parseDoctor(args: readonly string[]): DoctorFlags {
  const flags: DoctorFlags = { json: false, rest: [] };
  const names: Record<string, 'probeDomain' | 'publicIp' | 'senderDomain'> = {
    '--probe-domain': 'probeDomain',
    '--public-ip': 'publicIp',
    '--sender-domain': 'senderDomain',
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const key = names[flag];
    if (key !== undefined) {
      const value = inline ?? args[++i];
      if (value === undefined || value === '') throw new DoctorUsage(`${flag} needs a value`);
      flags[key] = value.toLowerCase();
    } else if (arg === '--json') flags.json = true;
    else flags.rest.push(arg);
  }
  if (flags.publicIp !== undefined && isIP(flags.publicIp) === 0)
    throw new DoctorUsage(`--public-ip: "${flags.publicIp}" is not an IP address`);
  for (const d of [flags.probeDomain, flags.senderDomain]) {
    if (d !== undefined && !/^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/.test(d))
      throw new DoctorUsage(`"${d}" is not a domain name`);
  }
  return flags;
}

function bounded<T>(work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), CHECK_LIMIT_MS);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

const slow = (name: string): Check => ({
  name,
  verdict: 'warn',
  detail: `no result within ${CHECK_LIMIT_MS / 1000} s`,
  fix: 'check the DNS servers and the network',
});

function render(checks: readonly Check[], io: CliIo): string {
  const paint = painter(io);
  const color = { pass: 'green', warn: 'yellow', fail: 'red' } as const;
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(
      `${paint(color[c.verdict], c.verdict.toUpperCase().padEnd(4))}  ${c.name.padEnd(6)}  ${clean(c.detail, 400)}`,
    );
    if (c.fix !== undefined && c.verdict !== 'pass') lines.push(`${' '.repeat(14)}fix: ${clean(c.fix, 400)}`);
  }
  const count = (v: string): number => checks.filter((c) => c.verdict === v).length;
  lines.push('', `${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail`);
  return lines.join('\n');
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check DNS, port 25, PTR, SPF, DKIM, DMARC and TLS, with the fix for each problem',
  help: () => HELP,
  async run(args, io) {
    let flags: DoctorFlags;
    try {
      flags = parseDoctor(args);
    } catch (error) {
      if (!(error instanceof DoctorUsage)) throw error;
      io.stderr.write(`mxpress doctor: ${error.message}; see mxpress doctor --help\n`);
      return EXIT.usage;
    }
    let config: Awaited<ReturnType<typeof loadConfig>>;
    try {
      config = await loadConfig({ argv: flags.rest, env: io.env, cwd: io.cwd });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.stderr.write(`${error.message}\n`);
      return EXIT.config;
    }
    const resolver = createResolver({
      servers: config.dns.servers,
      timeoutMs: Math.min(config.dns.timeoutMs, DNS_TIMEOUT_MS),
      cacheMaxEntries: 0,
    });
    const hostDomain = config.hostname.split('.').slice(-2).join('.');
    const options: DoctorOptions = {
      probeDomain: (flags.probeDomain ?? DEFAULT_PROBE).replace(/\.$/, ''),
      senderDomain: (flags.senderDomain ?? config.delivery.dkim[0]?.domain ?? hostDomain)
        .toLowerCase()
        .replace(/\.$/, ''),
      ...(flags.publicIp !== undefined ? { publicIp: flags.publicIp } : {}),
      connectMs: CONNECT_MS,
      now: Date.now(),
    };
    const dns = await bounded(checkDns(resolver, config, options), { check: slow('dns') });
    const checks: Check[] = [dns.check];
    const [port25, ptr, spf, dkim, dmarc, tls] = await Promise.all([
      bounded(checkPort25(config, options, dns.mx, dns.mxHost), slow('port25')),
      bounded(checkPtr(resolver, config, options), slow('ptr')),
      bounded(checkSpf(resolver, options), slow('spf')),
      bounded(checkDkim(resolver, config, options), [slow('dkim')]),
      bounded(checkDmarc(resolver, options), slow('dmarc')),
      bounded(checkTls(config, options), slow('tls')),
    ]);
    checks.push(port25, ptr, spf, ...dkim, dmarc, tls);
    io.stdout.write(flags.json ? `${JSON.stringify({ checks })}\n` : `${render(checks, io)}\n`);
    return checks.some((c) => c.verdict === 'fail') ? EXIT.failure : EXIT.ok;
  },
};
