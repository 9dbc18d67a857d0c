/**
 * Command-line usage errors: `UsageProblem` is a mistake in what the user typed
 * (exit 64 with the message); `usageOr` runs a parser and turns whatever it
 * throws (an unknown flag, a missing value) into one. No I/O.
 */
export class UsageProblem extends Error {}

export function usageOr<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageProblem(error instanceof Error ? error.message : String(error));
  }
}
