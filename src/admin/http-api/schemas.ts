/**
 * JSON Schemas of the HTTP API v1, written by hand: request schemas that Fastify
 * validates (params, query strings, the JSON injection body) and response shapes
 * that only the OpenAPI document uses (openapi-document.ts).
 *
 * Plain data. Request schemas close every object (`additionalProperties: false`,
 * and the server keeps Ajv from silently dropping extras), bound every string and
 * array, so a request that passes them is small enough to check field by field.
 */

import type { LifecycleEventType } from '../../contracts/events.ts';
import type { RecipientStatus } from '../../contracts/status.ts';

export const QUEUE_ID_PATTERN = '^[0-9A-HJKMNP-TV-Z]{26}$';

// Records keyed by the contract unions: adding a status or an event type to the
// contracts fails the type check here until the API documents it.
const STATUS_SET: Record<RecipientStatus, true> = {
  queued: true,
  deferred: true,
  delivered: true,
  bounced: true,
  expired: true,
  suppressed: true,
  cancelled: true,
};
const EVENT_TYPE_SET: Record<LifecycleEventType, true> = {
  received: true,
  delivered: true,
  deferred: true,
  bounced: true,
  expired: true,
  suppressed: true,
  cancelled: true,
  'dsn-sent': true,
  'suppression-added': true,
};

export const RECIPIENT_STATUSES = Object.keys(STATUS_SET) as readonly RecipientStatus[];
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as readonly LifecycleEventType[];

/** Most recipients one injection may name (to + cc + bcc); the SMTP limit applies too. */
export const MAX_INJECT_RECIPIENTS = 1000;
export const MAX_LIST_LIMIT = 500;

const address = { type: 'string', minLength: 1, maxLength: 512 } as const;
const addressList = { type: 'array', maxItems: MAX_INJECT_RECIPIENTS, items: address } as const;
const isoTime = { type: 'string', format: 'date-time' } as const;

export const messageIdParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: QUEUE_ID_PATTERN, description: '26-character queue id' } },
} as const;

export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'string',
      enum: RECIPIENT_STATUSES,
      description: 'Messages with a recipient in this status',
    },
    recipient: { ...address, description: 'Messages with this recipient address' },
    sender: { type: 'string', maxLength: 512, description: 'Envelope sender; `<>` is the null sender' },
    domain: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: 'Messages with a recipient at this domain',
    },
    since: { type: 'string', maxLength: 40, description: 'Received at or after: ISO 8601 or epoch ms' },
    until: { type: 'string', maxLength: 40, description: 'Received before: ISO 8601 or epoch ms' },
    cursor: { type: 'string', maxLength: 100, description: 'The `next` value of the previous page' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: 50 },
  },
} as const;

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    types: {
      type: 'string',
      maxLength: 300,
      description: 'Comma-separated event types, e.g. delivered,bounced',
    },
    message: { type: 'string', pattern: QUEUE_ID_PATTERN, description: 'Only events of this message' },
    recipient: { ...address, description: 'Only events naming this recipient' },
    domain: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: 'Only events for recipients at this domain',
    },
    since: {
      type: 'integer',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Replay stored events after this seq first (like Last-Event-ID)',
    },
  },
} as const;

export const injectBody = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to', 'subject'],
  properties: {
    from: { ...address, description: '`addr@example.com` or `Display Name <addr@example.com>`' },
    to: addressList,
    cc: addressList,
    bcc: addressList,
    subject: { type: 'string', maxLength: 4000 },
    text: { type: 'string' },
    html: { type: 'string' },
    headers: {
      type: 'object',
      maxProperties: 50,
      additionalProperties: { type: 'string', maxLength: 4000 },
      description: 'Extra header fields; structural ones (From, Content-Type, ...) are refused',
    },
    attachments: {
      type: 'array',
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filename', 'contentType', 'content'],
        properties: {
          filename: { type: 'string', minLength: 1, maxLength: 255 },
          contentType: { type: 'string', minLength: 3, maxLength: 127, description: '`type/subtype`' },
          content: { type: 'string', description: 'base64' },
        },
      },
    },
    dsn: {
      type: 'object',
      additionalProperties: false,
      properties: {
        notify: {
          type: 'array',
          minItems: 1,
          maxItems: 3,
          uniqueItems: true,
          items: { type: 'string', enum: ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] },
        },
        ret: { type: 'string', enum: ['FULL', 'HDRS'] },
        envid: { type: 'string', minLength: 1, maxLength: 100 },
      },
    },
  },
} as const;

export const rawInjectQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: { type: 'string', maxLength: 512, description: 'Envelope sender; `<>` is the null sender' },
    to: { ...addressList, minItems: 1, description: 'Repeat the parameter or separate with commas' },
  },
} as const;

export const problem = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable error code when the spool or ingress refused' },
  },
} as const;

const reply = {
  type: 'object',
  required: ['code', 'text'],
  properties: { code: { type: 'integer' }, enhanced: { type: 'string' }, text: { type: 'string' } },
} as const;

const attempt = {
  type: 'object',
  required: ['n', 'at', 'durationMs', 'route', 'outcome'],
  properties: {
    n: { type: 'integer', description: '1 for the first attempt' },
    at: isoTime,
    durationMs: { type: 'integer' },
    mxHost: { type: 'string' },
    ip: { type: 'string' },
    port: { type: 'integer' },
    tls: { type: 'object', properties: { protocol: { type: 'string' }, cipher: { type: 'string' } } },
    route: { type: 'string' },
    outcome: { type: 'string', enum: ['delivered', 'deferred', 'failed'] },
    reply,
    errorCode: { type: 'string' },
    scope: { type: 'string', enum: ['session', 'site', 'message', 'recipient'] },
  },
} as const;

export const messageDetail = {
  type: 'object',
  required: ['id', 'receivedAt', 'from', 'size', 'recipients'],
  properties: {
    id: { type: 'string' },
    receivedAt: isoTime,
    from: { type: 'string', description: "Envelope sender; '' for the null sender" },
    size: { type: 'integer' },
    hasBody: { type: 'boolean' },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    origin: { type: 'object' },
    recipients: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'address', 'status', 'attemptCount', 'attempts'],
        properties: {
          index: { type: 'integer' },
          address: { type: 'string' },
          status: { type: 'string', enum: RECIPIENT_STATUSES },
          held: { type: 'boolean' },
          attemptCount: { type: 'integer' },
          attempts: { type: 'array', items: attempt },
          nextAttemptAt: isoTime,
          lastResponse: reply,
          lastErrorCode: { type: 'string' },
          route: { type: 'string' },
          updatedAt: isoTime,
          classification: {
            type: 'object',
            properties: {
              severity: { type: 'string', enum: ['hard', 'soft'] },
              category: { type: 'string' },
            },
          },
          explanation: {
            type: 'object',
            properties: { title: { type: 'string' }, cause: { type: 'string' }, action: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

export const messageList = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          receivedAt: isoTime,
          from: { type: 'string' },
          subject: { type: 'string' },
          size: { type: 'integer' },
          recipients: {
            type: 'array',
            items: {
              type: 'object',
              properties: { address: { type: 'string' }, status: { type: 'string' } },
            },
          },
        },
      },
    },
    next: { type: 'string', description: 'Cursor for the next (older) page; absent on the last page' },
  },
} as const;

export const injectAccepted = {
  type: 'object',
  required: ['id', 'recipients'],
  properties: {
    id: { type: 'string' },
    recipients: { type: 'array', items: { type: 'string' }, description: 'Recipients queued' },
    refused: {
      type: 'array',
      description: 'Recipients refused as SMTP would at RCPT (suppression list); absent when none',
      items: {
        type: 'object',
        properties: {
          address: { type: 'string' },
          code: { type: 'integer' },
          enhanced: { type: 'string' },
          text: { type: 'string' },
        },
      },
    },
  },
} as const;

export const actionResult = {
  type: 'object',
  required: ['id', 'action', 'changed'],
  properties: {
    id: { type: 'string' },
    action: { type: 'string', enum: ['retry', 'cancel', 'hold', 'release'] },
    changed: { type: 'integer', description: 'Recipients the action changed' },
    inFlight: {
      type: 'integer',
      description:
        'cancel only: of those, recipients whose delivery was under way. Their servers may still accept the message; then a `delivered` event follows and the status becomes `delivered`',
    },
  },
} as const;

export const lifecycleEvent = {
  type: 'object',
  required: ['type', 'seq', 'at', 'messageId'],
  description: 'One lifecycle event (contracts/events.ts); more fields depending on `type`',
  properties: {
    type: { type: 'string', enum: EVENT_TYPES },
    seq: { type: 'integer' },
    at: { type: 'integer', description: 'epoch ms' },
    messageId: { type: 'string' },
  },
} as const;
