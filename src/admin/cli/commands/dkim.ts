/**
 * `mxpress dkim keygen DOMAIN [--selector mx1] [--bits 2048] [--out DIR]`: make an
 * RSA key for DKIM signing and say how to publish and configure it.
 *
 * Writes `<DIR>/<DOMAIN>.<SELECTOR>.key.pem` (PKCS#8 PEM, mode 0600, directory made
 * 0700; DIR defaults to ./dkim), never overwriting an existing file. Prints the DNS
 * TXT record (`SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=rsa; p=..."`, split
 * into strings of at most 255 characters as DNS requires) and the YAML to add under
 * `delivery.dkim`. Arguments are operator input, checked before anything is written.
 * Exit 0 on success, 64 for bad arguments, 1 when the key file cannot be written.
 */
import { generateKeyPair } from 'node:crypto';
import { chmod, mkdir, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { domainToASCII } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { type CliIo, EXIT } from '../io.ts';
import type { Command } from './command.ts';
import { UsageProblem, usageOr } from './usage.ts';

const generateKeyPairAsync = promisify(generateKeyPair);
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/i;
const ALLOWED_BITS = [1024, 2048, 3072, 4096];
const TXT_STRING = 255;

interface KeygenArgs {
  readonly domain: string;
  readonly selector: string;
  readonly bits: number;
  readonly out: string;
}

function parseKeygenArgs(args: readonly string[], cwd: string): KeygenArgs {
  const parsed: ReturnType<typeof parseKeygenTokens> = usageOr(() => parseKeygenTokens(args));
  const [given, extra] = parsed.positionals;
  if (given === undefined) throw new UsageProblem('which domain? e.g. mxpress dkim keygen example.com');
  if (extra !== undefined) throw new UsageProblem(`unexpected argument "${extra}"`);
  const domain = domainToASCII(given.replace(/\.$/, '')).toLowerCase();
  const labels = domain.split('.');
  if (domain.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
    throw new UsageProblem(`"${given}" is not a domain name`);
  }
  const selector = parsed.values.selector ?? 'mx1';
  if (!SELECTOR.test(selector) || selector.length > 63) {
    throw new UsageProblem(`"${selector}" is not a valid selector (letters, digits, "-", "_", dots)`);
  }
  const bits = Number(parsed.values.bits ?? '2048');
  if (!ALLOWED_BITS.includes(bits)) {
    throw new UsageProblem(`--bits must be one of ${ALLOWED_BITS.join(', ')} (2048 is the usual choice)`);
  }
  return { domain, selector, bits, out: resolve(cwd, parsed.values.out ?? 'dkim') };
}

function parseKeygenTokens(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      selector: { type: 'string' },
      bits: { type: 'string' },
      out: { type: 'string' },
    },
  });
}

/** The TXT record's text cut into DNS character-strings of at most 255 characters. */
export function txtStrings(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += TXT_STRING) out.push(text.slice(i, i + TXT_STRING));
  return out;
}

async function writeKeyFile(dir: string, file: string, pem: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(pem, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(file, 0o600);
}

export const dkimKeygenCommand: Command = {
  name: 'dkim keygen',
  summary: 'make an RSA key for DKIM signing and print its DNS record and config',
  help: () =>
    [
      'Usage: mxpress dkim keygen DOMAIN [--selector mx1] [--bits 2048] [--out DIR]',
      '',
      'Makes an RSA key pair for signing mail from DOMAIN (and its subdomains) with DKIM.',
      'The private key goes to DIR/DOMAIN.SELECTOR.key.pem (mode 0600; DIR defaults to ./dkim;',
      'an existing file is never overwritten). Then it prints the TXT record to publish at',
      'SELECTOR._domainkey.DOMAIN and the lines to add to the configuration file.',
      '',
      '  --selector S   the DKIM selector (s= tag), default mx1',
      `  --bits N       RSA key size: ${ALLOWED_BITS.join(', ')}; default 2048`,
      '  --out DIR      where to write the key, default ./dkim',
    ].join('\n'),

  async run(args: readonly string[], io: CliIo): Promise<number> {
    let options: KeygenArgs;
    try {
      options = parseKeygenArgs(args, io.cwd);
    } catch (error) {
      if (!(error instanceof UsageProblem)) throw error;
      io.stderr.write(`mxpress dkim keygen: ${error.message}\n`);
      return EXIT.usage;
    }
    const { domain, selector, bits, out } = options;
    const file = resolve(out, `${domain}.${selector}.key.pem`);
    const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: bits,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    try {
      await writeKeyFile(out, file, privateKey);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'EEXIST' ? 'it already exists (remove it or pick another --selector)' : String(error);
      io.stderr.write(`mxpress dkim keygen: cannot write ${file}: ${why}\n`);
      return EXIT.failure;
    }
    const record = `v=DKIM1; k=rsa; p=${publicKey.toString('base64')}`;
    const quoted = txtStrings(record)
      .map((s) => `"${s}"`)
      .join(' ');
    io.stdout.write(
      [
        `Private key written to ${file} (RSA ${bits} bits, mode 0600).`,
        '',
        `1. Publish this TXT record in the DNS zone of ${domain}:`,
        '',
        `${selector}._domainkey.${domain}. IN TXT ${quoted}`,
        '',
        '2. Add the key to the configuration file:',
        '',
        'delivery:',
        '  dkim:',
        `    - domain: ${domain}`,
        `      selector: ${selector}`,
        `      privateKeyFile: ${JSON.stringify(file)}`,
        '',
        `3. Once published, check it: dig +short TXT ${selector}._domainkey.${domain}`,
        '',
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
