/**
 * The DATA reply of a `deliveryMode: sync` listener, from the first verdicts.
 *
 * Pure. Every recipient delivered: 250 naming the MX that took it. Every recipient
 * refused permanently: the remote's own reply code, enhanced code and words, with
 * the MX that said them (the client then owns the refusal: no bounce follows).
 * Anything else (some refused, deferred, or still pending when the budget ran out):
 * 250, because the message is safely queued, with a summary of what happened.
 * Remote text is UNTRUSTED: formatReply strips control characters; here it is also
 * cut short so the reply stays one reasonable line.
 */
import type { SmtpReply } from '../../contracts/status.ts';
import type { SyncOutcome } from '../../feedback/sync-waiters.ts';

export interface SyncReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  /** True when this reply hands the client a permanent refusal of every recipient. */
  readonly refusal: boolean;
}

function words(reply: SmtpReply | undefined): string {
  if (!reply) return '';
  const text = reply.text.replace(/\s+/g, ' ').trim();
  const cut = text.length > 160 ? `${text.slice(0, 157)}...` : text;
  return [String(reply.code), reply.enhanced, cut].filter(Boolean).join(' ');
}

export function syncReply(queueId: string, recipients: readonly string[], outcome: SyncOutcome): SyncReply {
  const delivered: string[] = [];
  const refused: { address: string; reply: SmtpReply; mx?: string }[] = [];
  const deferred: string[] = [];
  for (const address of recipients) {
    const v = outcome.verdicts.get(address);
    if (!v) continue;
    if (v.type === 'delivered')
      delivered.push(`${address} by ${v.attempt.mxHost ?? v.attempt.ip ?? 'the next hop'}`);
    else if (v.type === 'bounced')
      refused.push({ address, reply: v.reply, ...(v.attempt?.mxHost ? { mx: v.attempt.mxHost } : {}) });
    else deferred.push(address);
  }
  const pending = outcome.pending.length + deferred.length;
  if (delivered.length === recipients.length) {
    const where = delivered.length === 1 ? delivered[0] : `${delivered.length} recipients`;
    return {
      code: 250,
      enhanced: '2.0.0',
      text: `Ok: delivered to ${where}; queue id ${queueId}`,
      refusal: false,
    };
  }
  if (refused.length === recipients.length) {
    const first = refused[0]!;
    const code = first.reply.code >= 500 && first.reply.code < 600 ? first.reply.code : 550;
    const enhanced = first.reply.enhanced?.startsWith('5.') ? first.reply.enhanced : '5.0.0';
    const by = first.mx ? `${first.mx} said: ` : '';
    const more = refused.length > 1 ? ` (and ${refused.length - 1} more refused)` : '';
    return {
      code,
      enhanced,
      text: `<${first.address}> ${by}${words(first.reply)}${more}; queue id ${queueId}`,
      refusal: true,
    };
  }
  const parts = [`Ok: queued as ${queueId}`];
  if (delivered.length > 0) parts.push(`delivered ${delivered.length}`);
  if (refused.length > 0)
    parts.push(
      `refused ${refused.length} (<${refused[0]!.address}>: ${words(refused[0]!.reply)}; a report follows)`,
    );
  if (pending > 0) parts.push(`${pending} still queued and retried`);
  return { code: 250, enhanced: '2.0.0', text: parts.join('; '), refusal: false };
}
