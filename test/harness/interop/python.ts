/**
 * Runs a Python (smtplib) client snippet against a test server and returns what it
 * reported.
 *
 * The snippet gets a prelude: `PORT` (the server's port), `connect(source=None)`
 * (an smtplib.SMTP with EHLO name client.example, optionally bound to a loopback
 * source address, 10 s timeout), `tls_context()` (no certificate checks: the test
 * server's certificate is self-signed), `smtp_error(e)` (an SMTP exception as a dict)
 * and `report(**values)`, which prints one JSON line. The snippet is dedented, so it
 * may be indented in the test source. Rejects when Python exits non-zero, times out,
 * or reports nothing.
 */
import { PYTHON, run } from './peers.ts';

const PRELUDE = `
import json, smtplib, ssl, sys
PORT = int(sys.argv[1])

def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx

def connect(source=None):
    return smtplib.SMTP('127.0.0.1', PORT, local_hostname='client.example', timeout=10,
                        source_address=(source, 0) if source else None)

def smtp_error(e):
    out = {'type': type(e).__name__}
    if hasattr(e, 'smtp_code'):
        out['code'] = e.smtp_code
        out['text'] = e.smtp_error.decode('utf-8', 'replace') if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        out['recipients'] = {k: [v[0], v[1].decode('utf-8', 'replace')] for k, v in e.recipients.items()}
    return out

def report(**values):
    print(json.dumps(values))
`;

function dedent(code: string): string {
  const lines = code.replace(/^\n+/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length);
  const cut = Math.min(...indents);
  return lines.map((l) => l.slice(cut)).join('\n');
}

export async function runPython(
  port: number,
  code: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const program = `${PRELUDE}\n${dedent(code)}\n`;
  const r = await run(PYTHON, ['-c', program, String(port)], {
    timeoutMs,
    env: { PYTHONIOENCODING: 'utf-8', PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (r.code !== 0)
    throw new Error(`python exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  const last = r.stdout.trimEnd().split('\n').at(-1);
  if (!last) throw new Error(`python reported nothing\n--- stderr\n${r.stderr}`);
  return JSON.parse(last) as Record<string, unknown>;
}
