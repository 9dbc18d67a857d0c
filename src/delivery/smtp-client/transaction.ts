/**
 * One mail transaction on an open session: [RSET] MAIL, RCPT..., DATA, body, final dot.
 * With PIPELINING, the next transaction's MAIL, RCPT and DATA may ride in the same write
 * as this one's final dot (`follow`; RFC 2920 allows message content as the first
 * "command" of a group): one write and one round trip per message on a busy connection.
 *
 * In: the transport, the server's extensions, a validated OutboundTransaction. Out: a
 * TransactionResult with every reply. With PIPELINING, MAIL + all RCPT + DATA go out in
 * one write and the replies are matched in order (RFC 2920); without it, one command at
 * a time, stopping after a refused MAIL and sending RSET instead of DATA when no
 * recipient was accepted. The body goes out with backpressure, as it is when it is
 * CRLF-canonical with no line starting with ".", else through DotStuffer.
 *
 * Failure: refusals (4xx/5xx to MAIL, RCPT, DATA, the dot) are results, not errors.
 * Session failures reject with SmtpClientError: timeouts, closes, a refused RSET,
 * replies of the wrong class (e.g. 250 to DATA), 354 when no recipient was accepted.
 * After any rejection the session is unusable. Replies are UNTRUSTED.
 */
import type { SmtpReply } from '../../contracts/status.ts';
import { DotStuffer, unchangedDataEnd } from '../../protocol/dot-stuffer.ts';
import { localRefusal, mailCommand, rcptCommand } from './commands.ts';
import { describeReply, SmtpClientError, type SmtpClientPhase } from './errors.ts';
import type { SmtpTransport } from './transport.ts';
import type { ClientTimeouts, OutboundTransaction, RecipientResult, TransactionResult } from './types.ts';

/** Body bytes handed to the socket per write. */
const WRITE_SLICE = 64 * 1024;

export interface TransactionContext {
  readonly transport: SmtpTransport;
  readonly extensions: ReadonlyMap<string, string>;
  readonly timeouts: ClientTimeouts;
  /** The previous transaction on this connection did not end cleanly: reset the session first. */
  readonly resetFirst: boolean;
  /** Called once MAIL has been written (the per-connection message counter). */
  readonly onMailSent: () => void;
  /** This transaction's MAIL, RCPT and DATA already went out with the previous final dot. */
  readonly preSent?: boolean;
  /** Asked just before the final dot: the next transaction's command lines, to send with it. */
  readonly follow?: () => readonly string[] | undefined;
}

export interface TransactionOutcome {
  readonly result: TransactionResult;
  /** The session cannot carry another transaction (e.g. 354 with no recipients, a 421). */
  readonly sessionBroken: boolean;
  /**
   * The server answered the final dot, which ends the mail transaction on its side
   * (RFC 5321 4.1.1.4): the next one needs no RSET first.
   */
  readonly ended?: boolean;
}

function wrongClass(phase: SmtpClientPhase, reply: SmtpReply): SmtpClientError {
  return new SmtpClientError({
    code: 'PROTOCOL',
    phase,
    message: `unexpected reply during ${phase}: ${describeReply(reply)}`,
    reply,
    temporary: true,
  });
}

/** 2xx -> true, 4xx/5xx -> false, anything else is a protocol error. */
function accepted(phase: SmtpClientPhase, reply: SmtpReply): boolean {
  const kind = Math.floor(reply.code / 100);
  if (kind === 2) return true;
  if (kind === 4 || kind === 5) return false;
  throw wrongClass(phase, reply);
}

export async function runTransaction(
  ctx: TransactionContext,
  tx: OutboundTransaction,
): Promise<TransactionOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const refusal = localRefusal(tx, ctx.extensions);
  if (refusal) {
    const recipients = tx.recipients.map((r) => ({ address: r.address, reply: refusal, accepted: false }));
    return {
      result: { mail: refusal, recipients, durationMs: elapsed(), local: true },
      sessionBroken: false,
    };
  }
  const { transport, timeouts } = ctx;
  const pipelining = ctx.extensions.has('PIPELINING');
  // With PIPELINING, RSET travels in the same write as MAIL, RCPT and DATA (RFC 2920
  // allows it anywhere in a group): one packet and one round trip per message.
  const resetInGroup = ctx.resetFirst && pipelining;
  if (ctx.resetFirst && !pipelining) {
    await transport.sendCommands(['RSET'], 'rset', timeouts.mailMs);
    checkReset(await transport.readReply('rset', timeouts.mailMs));
  }
  let broken = false;
  const note = (reply: SmtpReply): SmtpReply => {
    if (reply.code === 421) broken = true; // the server is closing the session
    return reply;
  };

  // MAIL (and with PIPELINING, everything up to DATA in the same write), unless it
  // already went out with the previous transaction's final dot.
  if (!ctx.preSent) {
    await transport.sendCommands(
      pipelining
        ? [...(resetInGroup ? ['RSET'] : []), ...commandGroup(tx, ctx.extensions)]
        : [mailCommand(tx, ctx.extensions)],
      'mail',
      timeouts.mailMs,
    );
    ctx.onMailSent();
  }
  if (resetInGroup) {
    const reset = await transport.readReply('rset', timeouts.mailMs);
    if (Math.floor(reset.code / 100) !== 2) {
      // The rest of the group is already on its way to a server in an unknown state.
      transport.destroy();
    }
    checkReset(reset);
  }
  const mail = note(await transport.readReply('mail', timeouts.mailMs));
  const mailOk = accepted('mail', mail);

  // After a refused MAIL the RCPT replies (503s) say nothing useful: recipients get MAIL's reply.
  // After a 421 the server is closing: later replies will never come, so none are awaited.
  let stopReply: SmtpReply | undefined = mailOk ? undefined : mail;
  const recipients: RecipientResult[] = [];
  for (let i = 0; i < tx.recipients.length; i++) {
    const address = tx.recipients[i]!.address;
    if (stopReply && (!pipelining || broken)) {
      recipients.push({ address, reply: stopReply, accepted: false });
      continue;
    }
    if (!pipelining)
      await transport.sendCommands([rcptCommand(tx.recipients[i]!, ctx.extensions)], 'rcpt', timeouts.rcptMs);
    const reply = note(await transport.readReply('rcpt', timeouts.rcptMs));
    const ok = accepted('rcpt', reply);
    if (reply.code === 421) stopReply = reply;
    recipients.push({ address, reply: stopReply ?? reply, accepted: !stopReply && ok });
  }
  const anyAccepted = recipients.some((r) => r.accepted);
  const result = (data?: SmtpReply): TransactionOutcome => ({
    result: data
      ? { mail, recipients, data, durationMs: elapsed() }
      : { mail, recipients, durationMs: elapsed() },
    sessionBroken: broken,
  });
  if (broken) {
    transport.destroy();
    return result();
  }

  if (!anyAccepted) {
    if (pipelining) {
      // DATA went out with the rest; RFC 2920 says the server must refuse it now.
      const dataReply = note(await transport.readReply('data', timeouts.dataInitMs));
      if (Math.floor(dataReply.code / 100) === 3) {
        // A broken server is waiting for a body nobody should get: drop the session.
        transport.destroy();
        return { ...result(), sessionBroken: true };
      }
      accepted('data', dataReply);
    } else if (mailOk) {
      await transport.sendCommands(['RSET'], 'rset', timeouts.mailMs);
      const reset = await transport.readReply('rset', timeouts.mailMs);
      if (!accepted('rset', reset)) broken = true;
    }
    return result();
  }

  if (!pipelining) await transport.sendCommands(['DATA'], 'data', timeouts.dataInitMs);
  const dataReply = note(await transport.readReply('data', timeouts.dataInitMs));
  const dataKind = Math.floor(dataReply.code / 100);
  if (dataKind === 4 || dataKind === 5) return result(dataReply);
  if (dataKind !== 3) throw wrongClass('data', dataReply);

  // The final reply is expected from now on, so an early reply (say 552 mid-body) is kept, not an error.
  transport.expectReply();
  // A canonical body without lines starting with "." (nearly every body) goes out as it
  // is; anything else through the DotStuffer.
  const unchangedEnd = unchangedDataEnd(tx.body);
  const stuffer = unchangedEnd ? undefined : new DotStuffer();
  let offset = 0;
  for (; offset + WRITE_SLICE < tx.body.length; offset += WRITE_SLICE) {
    const slice = tx.body.subarray(offset, offset + WRITE_SLICE);
    await transport.writeData(stuffer ? stuffer.push(slice) : slice, 'data', timeouts.dataBlockMs);
  }
  // The last slice and the final dot go out in one write, with the next transaction's
  // commands when there is one.
  const last = tx.body.subarray(offset);
  const end = stuffer ? [stuffer.push(last), stuffer.end()] : [last, unchangedEnd!];
  const next = pipelining ? ctx.follow?.() : undefined;
  if (next) await transport.writeDataThenCommands(end, next, 'data', timeouts.dataBlockMs);
  else await transport.writeData(Buffer.concat(end), 'data', timeouts.dataBlockMs);
  const final = note(await transport.readReply('data-term', timeouts.dataTermMs));
  accepted('data-term', final);
  return { ...result(final), ended: true };
}

function checkReset(reply: SmtpReply): void {
  if (accepted('rset', reply)) return;
  throw new SmtpClientError({
    code: 'REJECTED',
    phase: 'rset',
    message: `RSET refused: ${describeReply(reply)}`,
    reply,
  });
}

/** MAIL, every RCPT and DATA of `tx`: the group a pipelining client writes at once. */
export function commandGroup(tx: OutboundTransaction, extensions: ReadonlyMap<string, string>): string[] {
  return [mailCommand(tx, extensions), ...tx.recipients.map((r) => rcptCommand(r, extensions)), 'DATA'];
}
