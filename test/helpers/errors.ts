/** The BoxliteError an action throws; anything else (or nothing) fails the test. */
import { BoxliteError } from "../../src/util/errors.ts";

export function errorOf(action: () => unknown): BoxliteError {
  try {
    action();
  } catch (error) {
    if (error instanceof BoxliteError) return error;
    throw error;
  }
  throw new Error("expected a BoxliteError");
}
