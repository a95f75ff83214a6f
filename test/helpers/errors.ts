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

/** The BoxliteError a promise rejects with; anything else (or fulfilment) fails the test. */
export async function rejectionOf(promise: Promise<unknown>): Promise<BoxliteError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BoxliteError) return error;
    throw error;
  }
  throw new Error("expected a BoxliteError");
}
