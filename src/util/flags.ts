/** Command-line values shared by the CLI and the option table (model/fields.ts). */
import { BoxliteError } from "./errors.ts";

/** A whole-number flag's value, with the flag's name in the error; undefined when it was not given. */
export function parseInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new BoxliteError("usage", `${flag} ${JSON.stringify(value)} is not a whole number`);
  return Number(value);
}
