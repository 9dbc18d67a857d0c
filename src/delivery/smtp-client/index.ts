/**
 * Outbound SMTP client: the public surface the queue and pool code against.
 *
 * `openSmtpConnection` (session.ts) connects and negotiates; the returned
 * `SmtpConnection` (connection.ts) sends transactions. Errors are SmtpClientError.
 */
export { SmtpClientError, type SmtpClientErrorCode, type SmtpClientPhase } from './errors.ts';
export { openSmtpConnection } from './session.ts';
export {
  type ClientTimeouts,
  type ConnectOptions,
  DEFAULT_TIMEOUTS,
  type OutboundRecipient,
  type OutboundTransaction,
  type RecipientResult,
  resolveTimeouts,
  type SmtpConnection,
  type TlsInfo,
  type TlsPolicy,
  type TransactionResult,
} from './types.ts';
