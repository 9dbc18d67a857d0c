/**
 * Configuration errors.
 *
 * `ConfigError` is what loading, validating or using configuration throws when the
 * operator's input is wrong. Its message names the key path (or flag, or environment
 * variable), the problem and where the value came from, one line per problem:
 *   config error: smtp.listeners[0].port: expected a port number 1-65535, got "seventy" (from /x/mxpress.yaml)
 * The CLI prints it as is and exits 78 (EX_CONFIG).
 *
 * `FieldProblem` is the internal signal a single-value parser throws (no key, no
 * origin); the caller that knows where the value came from turns it into a ConfigError.
 */

export interface ConfigIssue {
  /** Key path (`smtp.listeners[0].port`), flag (`--mx-port`), variable (`MXPRESS_SMTP`) or file. */
  readonly key: string;
  readonly problem: string;
  /** Where the value came from: a file path, `environment`, `command line`; absent when mixed. */
  readonly origin?: string;
}

const MAX_LINES = 20;

function formatIssue(issue: ConfigIssue): string {
  const from = issue.origin === undefined ? '' : ` (from ${issue.origin})`;
  return `config error: ${issue.key}: ${issue.problem}${from}`;
}

export class ConfigError extends Error {
  /** Every problem found, first one first; `key`/`problem`/`origin` repeat the first. */
  readonly issues: readonly ConfigIssue[];
  readonly key: string;
  readonly problem: string;
  readonly origin: string | undefined;

  constructor(issues: ConfigIssue | readonly ConfigIssue[], options?: { cause?: unknown }) {
    const list: readonly ConfigIssue[] = Array.isArray(issues) ? issues : [issues as ConfigIssue];
    const first = list[0];
    if (first === undefined) throw new TypeError('ConfigError needs at least one issue');
    const lines = list.slice(0, MAX_LINES).map(formatIssue);
    if (list.length > MAX_LINES) lines.push(`config error: ... and ${list.length - MAX_LINES} more problems`);
    super(lines.join('\n'), options);
    this.name = 'ConfigError';
    this.issues = list;
    this.key = first.key;
    this.problem = first.problem;
    this.origin = first.origin;
  }
}

/** Thrown by single-value parsers; carries only the problem text. */
export class FieldProblem extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'FieldProblem';
  }
}

/** Short, safe rendering of a value the operator gave, for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** Suggests the closest known name for a typo (case, `-`/`_` and up to 2 edits), or undefined. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const squash = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  const target = squash(name);
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d =
      candidate === name ? 0 : squash(candidate) === target ? 0.5 : editDistance(squash(candidate), target);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 99;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}
