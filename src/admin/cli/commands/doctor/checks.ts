/**
 * The checks `mxpress doctor` runs, each answering pass, warn or fail with what
 * to do about it: the DNS servers answer, outbound port 25 reaches a real MX, the
 * public address's PTR matches the HELO name, the sender domain's SPF, DKIM and
 * DMARC records, and the TLS certificate's expiry and name.
 *
 * In: the loaded config, our resolver and the doctor's own options. Out: one
 * `Check` per topic. Never throws for what it finds and never hangs: every
 * network step has a short time limit, and being offline reads as "cannot
 * reach" (warn). DNS answers and MX banners are UNTRUSTED text (cleaned by the
 * printer).
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../../../../config/types.ts';
import type { Resolver } from '../../../../contracts/resolver.ts';

export type Verdict = 'pass' | 'warn' | 'fail';

export interface Check {
  readonly name: string;
  readonly verdict: Verdict;
  readonly detail: string;
  readonly fix?: string;
}

export interface DoctorOptions {
  readonly probeDomain: string;
  readonly senderDomain: string;
  readonly publicIp?: string;
  readonly connectMs: number;
  readonly now: number;
}

const check = (name: string, verdict: Verdict, detail: string, fix?: string): Check => ({
  name,
  verdict,
  detail,
  ...(fix !== undefined ? { fix } : {}),
});

/** DNS answers and the first MX address of the probe domain (for the port 25 check). */
export async function checkDns(
  resolver: Resolver,
  config: Config,
  o: DoctorOptions,
): Promise<{ check: Check; mx?: string; mxHost?: string }> {
  const servers =
    config.dns.servers.length > 0 ? config.dns.servers.join(', ') : 'the system resolvers (/etc/resolv.conf)';
  const answer = await resolver.resolveMx(o.probeDomain);
  if (answer.kind === 'temporary') {
    return {
      check: check(
        'dns',
        'fail',
        `no usable answer from ${servers} for MX ${o.probeDomain}: ${answer.message}`,
        'check dns.servers (--dns-server) or /etc/resolv.conf; the servers must answer recursive queries from this host',
      ),
    };
  }
  if (answer.kind !== 'ok') {
    return {
      check: check('dns', 'pass', `${servers} answer (MX ${o.probeDomain}: ${answer.kind})`),
    };
  }
  const first = answer.targets[0];
  return {
    check: check(
      'dns',
      'pass',
      `${servers} answer (MX ${o.probeDomain}: ${answer.targets.map((t) => t.host).join(', ')})`,
    ),
    ...(first?.addresses[0] !== undefined ? { mx: first.addresses[0], mxHost: first.host } : {}),
  };
}

/** Connects to the MX and waits for its banner; any failure is a warning, never a hang. */
export async function checkPort25(
  config: Config,
  o: DoctorOptions,
  mx: string | undefined,
  mxHost?: string,
): Promise<Check> {
  const port = config.delivery.mxPort;
  if (mx === undefined)
    return check(
      'port25',
      'warn',
      `cannot tell: no MX address for ${o.probeDomain}`,
      'fix the DNS check first',
    );
  const where = `${mxHost ?? mx} [${mx}]:${port}`;
  const banner = await new Promise<string>((resolve) => {
    const socket = connect({ host: mx, port });
    let text = '';
    const done = (result: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(text === '' ? 'error:no answer in time' : text), o.connectMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (text.includes('\n') || text.length > 512) done(text.split('\n')[0]!.trim());
    });
    socket.on('error', (e: NodeJS.ErrnoException) => done(`error:${e.code ?? e.message}`));
    socket.on('close', () => done(text === '' ? 'error:closed without a banner' : text));
  });
  if (banner.startsWith('error:')) {
    return check(
      'port25',
      'warn',
      `cannot reach ${where} (${banner.slice(6)})`,
      'many providers block outbound port 25: ask yours to open it, or relay through a smarthost (delivery.routes)',
    );
  }
  if (!banner.startsWith('220'))
    return check(
      'port25',
      'warn',
      `${where} answered "${banner.slice(0, 200)}" instead of 220`,
      'your address may be on a block list; check it, or relay through a smarthost',
    );
  return check('port25', 'pass', `${where} answered: ${banner.slice(0, 200)}`);
}

/** The public address's PTR names the HELO host, and that name resolves back to the address. */
export async function checkPtr(resolver: Resolver, config: Config, o: DoctorOptions): Promise<Check> {
  const helo = config.hostname.toLowerCase();
  if (o.publicIp === undefined) {
    return check(
      'ptr',
      'warn',
      `cannot tell this host's public address, so its PTR is unchecked (HELO name ${helo})`,
      'run again with --public-ip ADDRESS',
    );
  }
  const ptr = await resolver.resolvePtr(o.publicIp);
  if (ptr.kind === 'temporary')
    return check('ptr', 'warn', `PTR of ${o.publicIp}: ${ptr.message}`, 'try again; check the DNS servers');
  if (ptr.kind !== 'ok' || ptr.names.length === 0) {
    return check(
      'ptr',
      'fail',
      `${o.publicIp} has no PTR record`,
      `ask whoever owns ${o.publicIp} (your provider) to set its PTR to ${helo}`,
    );
  }
  if (!ptr.names.includes(helo)) {
    return check(
      'ptr',
      'fail',
      `PTR of ${o.publicIp} is ${ptr.names.join(', ')}, not the HELO name ${helo}`,
      `set the PTR to ${helo}, or set hostname (--hostname) to ${ptr.names[0]}`,
    );
  }
  const forward = await resolver.resolveAddresses(helo);
  if (forward.kind !== 'ok' || !forward.addresses.includes(o.publicIp)) {
    return check(
      'ptr',
      'warn',
      `PTR of ${o.publicIp} is ${helo}, but ${helo} does not resolve back to ${o.publicIp}`,
      `add an A/AAAA record ${helo} -> ${o.publicIp}`,
    );
  }
  return check('ptr', 'pass', `${o.publicIp} <-> ${helo} (PTR and A/AAAA agree)`);
}

async function txt(resolver: Resolver, name: string): Promise<string[] | string> {
  const answer = await resolver.resolveTxt(name);
  if (answer.kind === 'temporary') return answer.message;
  return answer.kind === 'ok' ? answer.records : [];
}

export async function checkSpf(resolver: Resolver, o: DoctorOptions): Promise<Check> {
  const domain = o.senderDomain;
  const records = await txt(resolver, domain);
  if (typeof records === 'string')
    return check('spf', 'warn', `TXT ${domain}: ${records}`, 'try again; check the DNS servers');
  const spf = records.filter((r) => /^v=spf1(\s|$)/i.test(r));
  const suggestion = `v=spf1 ${o.publicIp === undefined ? 'a mx' : `${o.publicIp.includes(':') ? 'ip6' : 'ip4'}:${o.publicIp}`} -all`;
  if (spf.length === 0)
    return check('spf', 'fail', `${domain} has no SPF record`, `add TXT ${domain} "${suggestion}"`);
  if (spf.length > 1)
    return check(
      'spf',
      'fail',
      `${domain} has ${spf.length} SPF records (receivers treat that as an error)`,
      'merge them into one TXT record',
    );
  const record = spf[0]!;
  if (
    o.publicIp !== undefined &&
    !record.includes(o.publicIp) &&
    !/\s(a|mx|include:|redirect=)/i.test(record)
  ) {
    return check(
      'spf',
      'warn',
      `${domain}: "${record}" does not name ${o.publicIp}`,
      `add ip4:/ip6:${o.publicIp} to the record`,
    );
  }
  return check('spf', 'pass', `${domain}: "${record}"`);
}

/** The public key DER (base64) that goes with a PEM private key file, or undefined. */
async function publicKeyOf(file: string): Promise<string | undefined> {
  try {
    const key = createPrivateKey(await readFile(file, 'utf8'));
    return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    return undefined;
  }
}

export async function checkDkim(resolver: Resolver, config: Config, o: DoctorOptions): Promise<Check[]> {
  const keys = config.delivery.dkim.filter((k) => k.domain.toLowerCase() === o.senderDomain);
  if (keys.length === 0) {
    return [
      check(
        'dkim',
        'warn',
        `no DKIM key configured for ${o.senderDomain}: mail goes out unsigned`,
        `npx mxpress dkim keygen ${o.senderDomain}, then add it under delivery.dkim`,
      ),
    ];
  }
  const out: Check[] = [];
  for (const key of keys) {
    const name = `${key.selector}._domainkey.${key.domain}`;
    const records = await txt(resolver, name);
    if (typeof records === 'string') {
      out.push(check('dkim', 'warn', `TXT ${name}: ${records}`, 'try again; check the DNS servers'));
      continue;
    }
    const record = records.find((r) => /(^|;)\s*p=/.test(r));
    const mine = await publicKeyOf(key.privateKeyFile);
    const fix = `publish TXT ${name} with this key's public part (npx mxpress dkim keygen prints the record)`;
    if (record === undefined) {
      out.push(check('dkim', 'fail', `no DKIM record at ${name}`, fix));
      continue;
    }
    const published = /(?:^|;)\s*p=([^;]*)/.exec(record)?.[1]?.replace(/\s+/g, '') ?? '';
    if (published === '') out.push(check('dkim', 'fail', `${name} has an empty p= (key revoked)`, fix));
    else if (mine !== undefined && !mine.endsWith(published) && !published.endsWith(mine)) {
      out.push(check('dkim', 'fail', `${name} publishes a different key than ${key.privateKeyFile}`, fix));
    } else out.push(check('dkim', 'pass', `${name} publishes the key mxpress signs with`));
  }
  return out;
}

export async function checkDmarc(resolver: Resolver, o: DoctorOptions): Promise<Check> {
  const name = `_dmarc.${o.senderDomain}`;
  const records = await txt(resolver, name);
  if (typeof records === 'string')
    return check('dmarc', 'warn', `TXT ${name}: ${records}`, 'try again; check the DNS servers');
  const dmarc = records.filter((r) => /^v=DMARC1\s*(;|$)/i.test(r));
  const fix = `add TXT ${name} "v=DMARC1; p=none; rua=mailto:dmarc@${o.senderDomain}" and tighten p= once reports look right`;
  if (dmarc.length === 0)
    return check(
      'dmarc',
      'warn',
      `${o.senderDomain} has no DMARC record (large mailbox providers expect one)`,
      fix,
    );
  if (dmarc.length > 1)
    return check(
      'dmarc',
      'fail',
      `${name} has ${dmarc.length} DMARC records (receivers ignore them all)`,
      'keep one',
    );
  return check('dmarc', 'pass', `${name}: "${dmarc[0]}"`);
}

export async function checkTls(config: Config, o: DoctorOptions): Promise<Check> {
  const configured = config.smtp.tls.certFile;
  const file = configured ?? join(config.dataDir, 'tls', 'self-signed.cert.pem');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (configured === undefined && code === 'ENOENT') {
      return check(
        'tls',
        'warn',
        `no certificate yet (${file}); mxpress start makes a self-signed one`,
        "for mail clients, set smtp.tls.cert and smtp.tls.key to a certificate for the host name (e.g. from Let's Encrypt)",
      );
    }
    return check(
      'tls',
      'fail',
      `cannot read the certificate ${file}: ${code ?? (error as Error).message}`,
      'check smtp.tls.cert',
    );
  }
  const days = Math.floor((Date.parse(cert.validTo) - o.now) / 86_400_000);
  const selfSigned = configured === undefined;
  const nameOk = cert.checkHost(config.hostname) !== undefined;
  if (days < 0)
    return check(
      'tls',
      'fail',
      `${file} expired on ${cert.validTo}`,
      selfSigned ? 'restart mxpress: it renews its self-signed certificate' : 'renew the certificate',
    );
  if (!nameOk)
    return check(
      'tls',
      'warn',
      `${file} does not name ${config.hostname} (${cert.subjectAltName ?? cert.subject})`,
      'use a certificate for the host name, or set hostname to the name it carries',
    );
  if (days < 14)
    return check('tls', 'warn', `${file} expires in ${days} days (${cert.validTo})`, 'renew it now');
  if (selfSigned)
    return check(
      'tls',
      'warn',
      `self-signed certificate for ${config.hostname}, valid ${days} more days`,
      'mail clients will warn: set smtp.tls.cert and smtp.tls.key to a certificate from a public CA',
    );
  return check(
    'tls',
    'pass',
    `certificate for ${config.hostname}, valid ${days} more days (${cert.validTo})`,
  );
}
