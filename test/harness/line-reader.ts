/**
 * Reads CRLF-terminated reply lines from a raw socket, for protocol tests that
 * must control every byte they send. `line()` resolves undefined once the server
 * has closed the connection; `reply()` gathers one complete (multi-line) reply.
 */
import type { Socket } from 'node:net';

export class LineReader {
  #buffer = '';
  #closed = false;
  #waiters: (() => void)[] = [];
  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }
  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
  async line(timeoutMs = 5000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.#buffer.indexOf('\r\n');
      if (at >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + 2);
        return line;
      }
      if (this.#closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for a reply line; have ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** One complete reply: lines until one with a space after the code. */
  async reply(timeoutMs = 5000): Promise<{ code: number; lines: string[] } | undefined> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line(timeoutMs);
      if (line === undefined)
        return lines.length === 0 ? undefined : { code: Number(lines[0]!.slice(0, 3)), lines };
      lines.push(line);
      if (line.length < 4 || line[3] !== '-') return { code: Number(line.slice(0, 3)), lines };
    }
  }
}
