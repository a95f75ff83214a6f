/**
 * The generated OpenAPI document against the reference's contract
 * (../shared/reference/box.openapi.yaml, parsed with Bun.YAML): for every operation of the
 * contract, the same path (without `{prefix}`) and method here; for each one implemented,
 * the contract's query parameters, request fields (required ones required), success and
 * error statuses, and the fields its responses require.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { openapiDocument } from "../../src/api/openapi.ts";
import { REPO } from "../helpers/cli.ts";

type Json = Record<string, unknown>;

interface Operation {
  parameters?: Json[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, Json>;
  "x-boxlite-unsupported"?: boolean;
}

const contract = Bun.YAML.parse(await Bun.file(join(REPO, "..", "shared", "reference", "box.openapi.yaml")).text()) as Json;
const ours = openapiDocument();
const METHODS = ["get", "head", "post", "put", "delete", "patch"];

/** Follows `#/components/...` references of `document`. */
function resolve(document: Json, value: Json): Json {
  const ref = value.$ref;
  if (typeof ref !== "string") return value;
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, "").split("/")) node = (node as Json)[part];
  return resolve(document, node as Json);
}

function operations(document: Json, stripPrefix: boolean): Map<string, { op: Operation; params: Json[] }> {
  const found = new Map<string, { op: Operation; params: Json[] }>();
  for (const [rawPath, item] of Object.entries(document.paths as Record<string, Json>)) {
    const path = stripPrefix ? rawPath.replace(/^\/\{prefix\}/, "") : rawPath;
    const shared = ((item.parameters as Json[] | undefined) ?? []).map((param) => resolve(document, param));
    for (const method of METHODS) {
      const op = item[method] as Operation | undefined;
      if (!op) continue;
      const params = [...shared, ...(op.parameters ?? []).map((param) => resolve(document, param))];
      found.set(`${method.toUpperCase()} ${path}`, { op, params });
    }
  }
  return found;
}

const theirs = operations(contract, true);
const mine = operations(ours, false);

function jsonSchema(document: Json, op: Operation): Json | undefined {
  const schema = op.requestBody?.content["application/json"]?.schema;
  return schema ? resolve(document, schema) : undefined;
}

function responseSchema(document: Json, response: Json): Json | undefined {
  const resolved = resolve(document, response);
  const schema = (resolved.content as Record<string, { schema: Json }> | undefined)?.["application/json"]?.schema;
  return schema ? resolve(document, schema) : undefined;
}

const implemented = [...theirs.keys()].filter((key) => mine.get(key)?.op["x-boxlite-unsupported"] !== true);

test("the contract was read, and every operation in it is answered here (implemented or refused as unsupported)", () => {
  expect(theirs.size).toBeGreaterThan(25);
  const missing = [...theirs.keys()].filter((key) => !mine.has(key));
  expect(missing).toEqual([]);
  // What this build refuses, so that a change to the list is a visible decision.
  expect([...theirs.keys()].filter((key) => !implemented.includes(key)).sort()).toEqual([
    "DELETE /boxes/{box_id}/snapshots/{snapshot_name}",
    "GET /boxes/{box_id}/snapshots",
    "GET /boxes/{box_id}/snapshots/{snapshot_name}",
    "POST /boxes/import",
    "POST /boxes/{box_id}/clone",
    "POST /boxes/{box_id}/export",
    "POST /boxes/{box_id}/network/tunnel",
    "POST /boxes/{box_id}/snapshots",
    "POST /boxes/{box_id}/snapshots/{snapshot_name}/restore",
  ]);
});

test("implemented operations take the contract's path and query parameters, required as the contract says", () => {
  for (const key of implemented) {
    const wanted = (theirs.get(key)?.params ?? []).filter((param) => param.in === "path" || param.in === "query").filter((param) => param.name !== "prefix");
    const have = new Map((mine.get(key)?.params ?? []).map((param) => [`${param.in} ${param.name}`, param]));
    for (const param of wanted) {
      const ourParam = have.get(`${param.in} ${param.name}`);
      expect({ key, param: param.name, present: ourParam !== undefined }).toEqual({ key, param: param.name, present: true });
      expect({ key, param: param.name, required: ourParam?.required === true }).toEqual({ key, param: param.name, required: param.required === true });
    }
  }
});

test("implemented operations take every request field of the contract, and require the same ones", () => {
  for (const key of implemented) {
    const theirOp = theirs.get(key)?.op as Operation;
    const ourOp = mine.get(key)?.op as Operation;
    expect({ key, body: ourOp.requestBody !== undefined }).toEqual({ key, body: theirOp.requestBody !== undefined });
    if (!theirOp.requestBody) continue;
    expect({ key, required: ourOp.requestBody?.required === true }).toEqual({ key, required: theirOp.requestBody.required === true });
    const theirSchema = jsonSchema(contract, theirOp);
    if (!theirSchema) continue; // a binary body (file upload)
    const ourSchema = jsonSchema(ours, ourOp) as Json;
    const ourFields = Object.keys((ourSchema.properties as Json | undefined) ?? {});
    for (const field of Object.keys((theirSchema.properties as Json | undefined) ?? {}))
      expect({ key, field, known: ourFields.includes(field) }).toEqual({ key, field, known: true });
    expect({ key, required: [...((ourSchema.required as string[] | undefined) ?? [])].sort() }).toEqual({
      key,
      required: [...((theirSchema.required as string[] | undefined) ?? [])].sort(),
    });
  }
});

test("implemented operations answer every status the contract lists", () => {
  for (const key of implemented) {
    const wanted = Object.keys(theirs.get(key)?.op.responses ?? {});
    const have = Object.keys(mine.get(key)?.op.responses ?? {});
    expect({ key, missing: wanted.filter((status) => !have.includes(status)) }).toEqual({ key, missing: [] });
  }
});

test("success answers carry every field the contract's response schemas require", () => {
  for (const key of implemented) {
    for (const [status, response] of Object.entries(theirs.get(key)?.op.responses ?? {})) {
      if (!status.startsWith("2")) continue;
      const theirSchema = responseSchema(contract, response);
      const ourResponse = mine.get(key)?.op.responses[status];
      if (!theirSchema || !ourResponse) continue;
      const ourSchema = responseSchema(ours, ourResponse) as Json;
      const ourRequired = (ourSchema.required as string[] | undefined) ?? [];
      const missing = ((theirSchema.required as string[] | undefined) ?? []).filter((field) => !ourRequired.includes(field));
      expect({ key, status, missing }).toEqual({ key, status, missing: [] });
    }
  }
});
