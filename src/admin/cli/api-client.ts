/**
 * The CLI's client for the mxpress HTTP API: JSON requests and the SSE event
 * stream, with the address and token taken from flags or the environment.
 *
 * In: a base URL (`--api`, `MXPRESS_API`, default http://127.0.0.1:8025) and an
 * optional bearer token (`--token`, `MXPRESS_TOKEN`). Out: parsed JSON, or
 * `SseMessage`s from `events()`. Fails with `ApiUnreachableError` (connection
 * refused, DNS, timeout: the caller exits 69 naming the address tried) or
 * `ApiProblemError` (the server answered with an RFC 9457 problem). Every request
 * has a time limit; the stream has an idle limit (the server sends a heartbeat
 * every 15 s). Server replies are parsed defensively: they are input too.
 */

export const DEFAULT_API = 'http://127.0.0.1:8025';
const REQUEST_TIMEOUT_MS = 15_000;
const UPLOAD_TIMEOUT_MS = 60_000;
const STREAM_IDLE_MS = 45_000;
/** Longest SSE line or JSON reply accepted (a runaway server cannot fill memory). */
const MAX_LINE = 1024 * 1024;
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export interface ApiClientOptions {
  readonly base: string;
  readonly token?: string;
  readonly timeoutMs?: number;
  readonly streamIdleMs?: number;
}

export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
}

export class ApiUnreachableError extends Error {
  readonly address: string;
  constructor(address: string, reason: string) {
    super(`cannot reach the mxpress API at ${address} (${reason})`);
    this.name = 'ApiUnreachableError';
    this.address = address;
  }
}

export class ApiProblemError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(`${status} ${problem.title ?? 'Error'}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.name = 'ApiProblemError';
    this.status = status;
    this.problem = problem;
  }
}

/** One Server-Sent Event as received. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

/** Incremental text/event-stream parser (WHATWG HTML 9.2.6): feed text, get complete events. */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  #afterCr = false;

  push(text: string): SseMessage[] {
    // A CR that ended the previous piece may have been the first half of a CRLF.
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    if (text !== '') this.#afterCr = false;
    this.#buffer += text;
    if (this.#buffer.length > MAX_LINE && !/[\r\n]/.test(this.#buffer)) {
      throw new Error('event stream line too long');
    }
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      if (match[0] === '\r' && this.#buffer === '') this.#afterCr = true;
      const message = this.#line(line);
      if (message) out.push(message);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      const message =
        this.#data.length === 0
          ? undefined
          : {
              event: this.#event || 'message',
              data: this.#data.join('\n'),
              ...(this.#id !== undefined ? { id: this.#id } : {}),
            };
      this.#event = '';
      this.#data = [];
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    return undefined;
  }
}

/** Base URL and token from flags, then the environment, then the default. */
export function apiOptions(
  flags: { readonly api?: string | undefined; readonly token?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): ApiClientOptions {
  const base = (flags.api ?? env.MXPRESS_API ?? DEFAULT_API).replace(/\/+$/, '');
  const token = flags.token ?? env.MXPRESS_TOKEN;
  return { base, ...(token ? { token } : {}) };
}

function reasonOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if ((error as { name?: unknown }).name === 'TimeoutError') return 'no answer in time';
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

export class ApiClient {
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.base);
    } catch {
      throw new TypeError(`--api: "${options.base}" is not a URL (e.g. ${DEFAULT_API})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`--api: "${options.base}" must be an http:// or https:// URL`);
    }
    this.#options = options;
  }

  get base(): string {
    return this.#options.base;
  }

  getJson<T>(path: string, query: Readonly<Record<string, string | undefined>> = {}): Promise<T> {
    return this.#json<T>('GET', this.#url(path, query));
  }

  postJson<T>(path: string, body?: unknown): Promise<T> {
    return this.#json<T>('POST', this.#url(path, {}), body);
  }

  /**
   * Any other request: DELETE, a text or raw upload, a download to stream. Resolves
   * with the response on 2xx; fails as the JSON calls do (ApiUnreachableError,
   * ApiProblemError), within `timeoutMs` (default 60 s: uploads can be large).
   */
  async request(
    method: string,
    path: string,
    options: {
      readonly query?: Readonly<Record<string, string | readonly string[] | undefined>>;
      readonly body?: { readonly type: string; readonly data: string | Uint8Array };
      readonly accept?: string;
      readonly timeoutMs?: number;
    } = {},
  ): Promise<Response> {
    const response = await this.#fetch(this.#url(path, options.query ?? {}), {
      method,
      headers: {
        ...(options.accept ? { accept: options.accept } : {}),
        ...this.#auth(),
        ...(options.body ? { 'content-type': options.body.type } : {}),
      },
      ...(options.body ? { body: options.body.data } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? UPLOAD_TIMEOUT_MS),
    });
    if (!response.ok) throw await this.#problem(response);
    return response;
  }

  /**
   * Follows `GET /api/v1/events` until `signal` aborts (resolves) or the stream
   * ends or stalls (rejects with ApiUnreachableError).
   */
  async *events(
    query: Readonly<Record<string, string | undefined>>,
    options: { readonly lastEventId?: string; readonly signal?: AbortSignal } = {},
  ): AsyncGenerator<SseMessage> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(
        () => controller.abort(new Error('stalled')),
        this.#options.streamIdleMs ?? STREAM_IDLE_MS,
      );
    };
    try {
      armIdle();
      const response = await this.#fetch(this.#url('/api/v1/events', query), {
        method: 'GET',
        headers: {
          accept: 'text/event-stream',
          ...this.#auth(),
          ...(options.lastEventId !== undefined ? { 'last-event-id': options.lastEventId } : {}),
        },
        signal: controller.signal,
      });
      if (!response.ok) throw await this.#problem(response);
      if (response.body === null) throw new ApiUnreachableError(this.base, 'empty response');
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        armIdle();
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) yield message;
      }
      if (options.signal?.aborted) return;
      throw new ApiUnreachableError(this.base, 'the event stream ended');
    } catch (error) {
      if (options.signal?.aborted) return;
      if (error instanceof ApiProblemError || error instanceof ApiUnreachableError) throw error;
      throw new ApiUnreachableError(this.base, reasonOf(error));
    } finally {
      clearTimeout(idle);
      options.signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }

  #url(path: string, query: Readonly<Record<string, string | readonly string[] | undefined>>): string {
    const url = new URL(`${this.#options.base}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (typeof value === 'string') url.searchParams.set(key, value);
      else for (const item of value ?? []) url.searchParams.append(key, item);
    }
    return url.toString();
  }

  #auth(): Record<string, string> {
    return this.#options.token ? { authorization: `Bearer ${this.#options.token}` } : {};
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      throw new ApiUnreachableError(this.base, reasonOf(error));
    }
  }

  async #json<T>(method: string, url: string, body?: unknown): Promise<T> {
    const signal = AbortSignal.timeout(this.#options.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const response = await this.#fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...this.#auth(),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
    });
    if (!response.ok) throw await this.#problem(response);
    const text = await this.#text(response);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiUnreachableError(this.base, 'the answer was not JSON; is this an mxpress API?');
    }
  }

  async #text(response: Response): Promise<string> {
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_JSON_BYTES) throw new ApiUnreachableError(this.base, 'answer too large');
    try {
      return await response.text();
    } catch (error) {
      throw new ApiUnreachableError(this.base, reasonOf(error));
    }
  }

  async #problem(response: Response): Promise<ApiProblemError> {
    let problem: Problem = { status: response.status, title: response.statusText };
    try {
      const parsed = JSON.parse(await this.#text(response)) as unknown;
      if (typeof parsed === 'object' && parsed !== null) problem = { ...problem, ...(parsed as Problem) };
    } catch {
      // Not a problem document (a proxy's error page): status and reason phrase it is.
    }
    return new ApiProblemError(response.status, problem);
  }
}
