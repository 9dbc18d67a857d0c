/**
 * Typed errors with SMTP meaning.
 *
 * Every failure that can reach a peer or an operator is an `MxError`: a stable
 * `code` for programs, the SMTP reply code and RFC 3463 enhanced code to answer
 * with, and whether it is temporary. Unknown errors are treated as temporary by
 * `toMxError`, so a bug never turns into a permanent bounce. Peer-facing text is
 * bland on purpose; operator-facing explanations live in feedback/.
 */

export interface MxErrorInit {
  readonly code: string;
  readonly smtpCode: number;
  readonly enhancedCode: string;
  readonly message: string;
  readonly cause?: unknown;
}

export class MxError extends Error {
  readonly code: string;
  readonly smtpCode: number;
  readonly enhancedCode: string;

  constructor(init: MxErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'MxError';
    this.code = init.code;
    this.smtpCode = init.smtpCode;
    this.enhancedCode = init.enhancedCode;
  }

  /** 4xx replies are temporary; the client (or our queue) should try again later. */
  get temporary(): boolean {
    return this.smtpCode < 500;
  }
}

/** Spool failures: the commit did not happen; the client must retry later. */
export function spoolFull(cause?: unknown): MxError {
  return new MxError({
    code: 'SPOOL_FULL',
    smtpCode: 452,
    enhancedCode: '4.3.1',
    message: 'Insufficient system storage',
    cause,
  });
}

export function spoolIo(cause?: unknown): MxError {
  return new MxError({
    code: 'SPOOL_IO',
    smtpCode: 451,
    enhancedCode: '4.3.0',
    message: 'Local error in processing, try again later',
    cause,
  });
}

export function spoolClosed(): MxError {
  return new MxError({
    code: 'SPOOL_CLOSED',
    smtpCode: 421,
    enhancedCode: '4.3.2',
    message: 'Service shutting down, try again later',
  });
}

export function notFound(what: string): MxError {
  return new MxError({
    code: 'NOT_FOUND',
    smtpCode: 550,
    enhancedCode: '5.0.0',
    message: `${what} not found`,
  });
}

/** Wraps anything thrown into an MxError; unknown failures count as temporary. */
export function toMxError(error: unknown): MxError {
  if (error instanceof MxError) return error;
  return new MxError({
    code: 'INTERNAL',
    smtpCode: 451,
    enhancedCode: '4.3.0',
    message: 'Local error in processing, try again later',
    cause: error,
  });
}
