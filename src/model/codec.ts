/**
 * BoxOptions to and from each outer form, driven by the field table (fields.ts): the CLI's
 * parsed flags and its argv, the REST create request, and the stored BoxConfig, where a
 * read-modify-write keeps what it does not change — fields of the reference's we do not
 * use, and a known field whose value is the same — exactly as they were.
 */
import type { BoxConfigJson } from "../db/boxes.ts";
import { BoxliteError } from "../util/errors.ts";
import type { BoxOptions } from "./box-options.ts";
import type { CreateBoxRequest } from "./create-request.ts";
import { type CliFlags, type CliInput, FIELD_NAMES, FIELDS, type FieldCodec } from "./fields.ts";

type Value<K extends keyof BoxOptions> = NonNullable<BoxOptions[K]>;

/** Calls `visit` for every option, with its codec typed for its value. */
function eachField(visit: <K extends keyof BoxOptions>(name: K, codec: FieldCodec<Value<K>>) => void): void {
  // TypeScript does not narrow FieldTable[K] for a K of a loop; the table's type holds each entry to its field.
  for (const name of FIELD_NAMES) visit(name, FIELDS[name] as FieldCodec<Value<typeof name>>);
}

/** The flags of every option that has one (for `run` and `create`). */
export function boxFlags(): CliFlags {
  const flags: CliFlags = {};
  eachField((_name, codec) => Object.assign(flags, codec.cli?.flags));
  return flags;
}

export function optionsFromCli(input: CliInput): BoxOptions {
  const options: BoxOptions = {};
  eachField((name, codec) => {
    const value = codec.cli?.read(input);
    if (value !== undefined) options[name] = value;
  });
  return options;
}

/** `run` arguments that make `options` (those with a flag): flags, then IMAGE, then `--` and the command. */
export function cliFromOptions(options: BoxOptions): string[] {
  const flags: string[] = [];
  let operand: string | undefined;
  let rest: string[] = [];
  eachField((name, codec) => {
    const value = options[name];
    if (value == null || !codec.cli) return;
    const part = codec.cli.write(value);
    flags.push(...(part.flags ?? []));
    operand = part.operand ?? operand;
    rest = part.rest ?? rest;
  });
  return [...flags, ...(operand === undefined ? [] : [operand]), ...(rest.length > 0 ? ["--", ...rest] : [])];
}

function unsupported(field: string, why: string): BoxliteError {
  return new BoxliteError("unsupported", `${field} is not supported by this server: ${why}`);
}

/**
 * Request fields asking for what this build does not have. An empty or "off" value asks
 * for nothing and passes, so what clients send by default is accepted.
 */
function refuseUnsupported(request: CreateBoxRequest): void {
  if (request.security != null)
    throw unsupported("security", "the jail around a box's VMM is the server operator's choice (boxlite serve --security), not a request's");
  if ((request.secrets?.length ?? 0) > 0) throw unsupported("secrets", "secret substitution (an HTTPS proxy in the network process) is not in this build yet");
  // As the local reference: AutoStop (auto_pause, its older name) is a cloud feature, and so is auto_resume.
  if ((request.auto_stop ?? 0) > 0 || (request.auto_pause ?? 0) > 0) throw unsupported("auto_stop", "AutoStop is a cloud feature; use 0");
}

/** The options a REST create request asks for; what it cannot have is refused, naming the field. */
export function optionsFromRequest(request: CreateBoxRequest): BoxOptions {
  refuseUnsupported(request);
  const options: BoxOptions = {};
  eachField((name, codec) => {
    const value = codec.rest?.read(request);
    if (value !== undefined) options[name] = value;
  });
  return options;
}

/** The REST create request for `options` (what RemoteBoxlite sends). */
export function requestFromOptions(options: BoxOptions): CreateBoxRequest {
  const request: CreateBoxRequest = {};
  eachField((name, codec) => {
    const value = options[name];
    if (value != null && codec.rest) Object.assign(request, codec.rest.write(value));
  });
  return request;
}

/** The options a stored box was made with, from our records or the reference's (unknown fields are ignored). */
export function optionsFromRecord(config: BoxConfigJson): BoxOptions {
  const options: BoxOptions = {};
  const stored = config.options;
  eachField((name, codec) => {
    const value = codec.record.read(stored, config);
    if (value !== undefined) options[name] = value;
  });
  return options;
}

/**
 * `base` with `options` written in: an option left undefined, or whose stored value already
 * reads as the same, is not rewritten, so everything else in `base` survives unchanged.
 */
export function recordWith(base: BoxConfigJson, options: BoxOptions): BoxConfigJson {
  const config: BoxConfigJson = structuredClone(base);
  const stored = config.options;
  eachField((name, codec) => {
    const value = options[name];
    if (value == null || Bun.deepEquals(codec.record.read(stored, config), value, true)) return;
    codec.record.write(value, stored, config);
  });
  return config;
}
