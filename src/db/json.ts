/**
 * The JSON blobs of the database (box_config.json, box_state.json, snapshot.json …) are
 * the reference's serde output. They are read as plain JSON objects so that fields this
 * version does not know survive a rewrite untouched.
 */
import { BoxliteError } from "../util/errors.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses a blob that must hold an object; `what` names it for the user ("box 1a2b: box_config.json"). */
export function parseJsonObject(text: unknown, what: string): JsonObject {
  if (typeof text !== "string") throw corrupt(what, `it is ${text === null ? "NULL" : typeof text}, not JSON text`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(what, `it is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isJsonObject(value)) throw corrupt(what, "it is not a JSON object");
  return value;
}

export function corrupt(what: string, why: string): BoxliteError {
  return new BoxliteError("database", `${what} is unreadable: ${why}; the database may be damaged`);
}

/** A field that must be a string, or a clear error naming the record and the field. */
export function requireString(object: JsonObject, key: string, what: string): string {
  const value = object[key];
  if (typeof value !== "string") throw corrupt(what, `field "${key}" is missing or not a string`);
  return value;
}

/** An optional integer field (absent and null read as null). */
export function optionalInteger(object: JsonObject, key: string, what: string): number | null {
  const value = object[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value)) throw corrupt(what, `field "${key}" is not an integer`);
  return value;
}
