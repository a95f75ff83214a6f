/**
 * Request input checked against the TypeBox schemas before any route acts on it: JSON
 * bodies (malformed JSON, wrong types, unknown fields), query strings (converted from
 * text first) and path ids. Every refusal is a 400 InvalidArgumentError naming the field.
 */
import type { Static, TObject, TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value, type ValueError, ValueErrorType } from "@sinclair/typebox/value";
import type { Context } from "hono";
import { BoxliteError } from "../util/errors.ts";

const checkers = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** Schemas are module constants, so each is compiled once. */
function checkerOf<T extends TSchema>(schema: T): TypeCheck<T> {
  let checker = checkers.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    checkers.set(schema, checker);
  }
  return checker as TypeCheck<T>;
}

function listAllowed(schema: TSchema): string | undefined {
  const options: unknown = schema.anyOf;
  if (!Array.isArray(options)) return undefined;
  const consts = options.map((option: TSchema) => option.const).filter((value) => value !== undefined);
  return consts.length === options.length ? consts.map((value) => JSON.stringify(value)).join(", ") : undefined;
}

/**
 * The error to report: a union's own is "Expected union value", which names nothing, so a
 * nullable field (`Maybe`) reports its non-null variant's error, at that error's path.
 */
function findInnermost(error: ValueError): ValueError {
  if (error.type !== ValueErrorType.Union || listAllowed(error.schema) !== undefined) return error;
  const variants = error.errors.map((iterator) => iterator.First()).filter((inner): inner is ValueError => inner !== undefined && inner.schema.type !== "null");
  const only = variants[0];
  return only !== undefined && variants.length === 1 ? findInnermost(only) : error;
}

/** `where` is "body" or "query"; the field is the error's JSON pointer as a dotted path. */
function describeError(reported: ValueError, where: string): string {
  const error = findInnermost(reported);
  const field = error.path.replace(/^\//, "").replaceAll("/", ".");
  if (field === "") return `the request ${where} must be a JSON object`;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return `unknown field ${JSON.stringify(field)} in the request ${where}`;
  const allowed = error.type === ValueErrorType.Union ? listAllowed(error.schema) : undefined;
  const detail =
    allowed !== undefined
      ? `expected one of ${allowed}`
      : error.type === ValueErrorType.Union
        ? "not a value of any allowed type"
        : error.message.charAt(0).toLowerCase() + error.message.slice(1);
  return `invalid field ${JSON.stringify(field)} in the request ${where}: ${detail}`;
}

/** `value` as `schema` says, or a 400 naming the first field that is wrong. */
export function checkValue<T extends TSchema>(schema: T, value: unknown, where: string): Static<T> {
  const checker = checkerOf(schema);
  if (checker.Check(value)) return value;
  const first = checker.Errors(value).First();
  throw new BoxliteError("invalid_argument", first ? describeError(first, where) : `invalid request ${where}`);
}

/**
 * The JSON body as `schema` says. The content type is not insisted on (curl's `-d` sends
 * a form type); an empty body is `{}` when the body is optional.
 */
export async function readJsonBody<T extends TSchema>(c: Context, schema: T, options: { required: boolean }): Promise<Static<T>> {
  let text = await c.req.text();
  if (text.trim() === "") {
    if (options.required) throw new BoxliteError("invalid_argument", "this request needs a JSON body");
    text = "{}";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new BoxliteError("invalid_argument", `the request body is not valid JSON: ${detail}`, { cause });
  }
  return checkValue(schema, value, "body");
}

/** The query string as `schema` says: numbers and booleans are converted from their text first. */
export function readQuery<T extends TObject>(c: Context, schema: T): Static<T> {
  return checkValue(schema, Value.Convert(schema, c.req.query()), "query");
}

/**
 * Box ids we mint are ULIDs; a reference home's are any URL-safe string up to 128
 * characters; names start with a letter or digit and may hold dots. None starts with a
 * dot, so `.` and `..` (and anything with a slash) are never taken for a box.
 */
const BOX_REF = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** The `:id` path segment, checked: a box id, unique id prefix or name. */
export function boxParam(c: Context): string {
  const value = c.req.param("id") ?? "";
  if (!BOX_REF.test(value)) {
    throw new BoxliteError(
      "invalid_argument",
      `${JSON.stringify(value.slice(0, 140))} is not a box id or name (letters, digits, _ . -, up to 128, not starting with a dot)`,
    );
  }
  return value;
}

/** One page of `items` and the token of the next, for the contract's `pageSize`/`pageToken`. */
export function paginate<T>(items: T[], pageSize: number | undefined, pageToken: string | undefined): { page: T[]; next: string | undefined } {
  let offset = 0;
  if (pageToken !== undefined) {
    // The token is an offset, base64url-encoded so that clients treat it as opaque.
    const decoded = Buffer.from(pageToken, "base64url").toString("utf8");
    if (!/^o[0-9]{1,9}$/.test(decoded)) throw new BoxliteError("invalid_argument", `pageToken ${JSON.stringify(pageToken)} is not one this server gave out`);
    offset = Number(decoded.slice(1));
  }
  // Without pageSize, everything: the local reference does not page, and its clients do not ask.
  if (pageSize === undefined) return { page: items.slice(offset), next: undefined };
  const end = offset + pageSize;
  return { page: items.slice(offset, end), next: end < items.length ? Buffer.from(`o${end}`).toString("base64url") : undefined };
}
