/**
 * Queue ids: 26-character, time-sortable, Crockford base32 (the ULID layout).
 *
 * 48 bits of milliseconds then 80 random bits. Sorting ids sorts by arrival, which
 * the API's cursor paging relies on. Ids are also safe to print in SMTP replies and
 * file names (only 0-9 A-Z without I, L, O, U).
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomBytes10(): Buffer {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const slice = pool.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return slice;
}

/** The 10 characters that encode milliseconds `ms`, most significant first. */
function timePart(ms: number): string {
  const timeChars: string[] = [];
  let time = ms;
  for (let i = 0; i < 10; i++) {
    timeChars.push(ALPHABET[time % 32]!);
    time = Math.floor(time / 32);
  }
  return timeChars.reverse().join('');
}

/** The smallest id of `ms`: every id made at or after `ms` sorts at or after it, every earlier one before. */
export function queueIdFloor(ms: number): string {
  return `${timePart(Math.max(0, Math.floor(ms)))}${'0'.repeat(16)}`;
}

export function newQueueId(now: number = Date.now()): string {
  let out = timePart(now);
  const random = randomBytes10();
  // 80 bits -> 16 base32 characters, 5 bits at a time.
  let acc = 0;
  let bits = 0;
  for (const byte of random) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function isQueueId(text: string): boolean {
  return ID_PATTERN.test(text);
}
