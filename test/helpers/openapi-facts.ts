/**
 * What a REST contract test compares, read out of an OpenAPI document: per operation,
 * its path and query parameters, its request body and fields, its statuses, and the
 * fields its success answers require. The same reading serves our generated document
 * and the reference's contract (kept as facts under test/fixtures/rest-contract/).
 */

type Json = Record<string, unknown>;

export interface ParameterFacts {
  in: "path" | "query";
  name: string;
  required: boolean;
}

export interface RequestFacts {
  required: boolean;
  /** The JSON body's fields and the required ones; null for a body that is not JSON (a file upload). */
  json: { fields: string[]; required: string[] } | null;
}

export interface OperationFacts {
  /** Path and query parameters; the `{prefix}` routing slot is left out. */
  parameters: ParameterFacts[];
  request: RequestFacts | null;
  statuses: string[];
  /** For each 2xx status with a JSON schema, the fields that schema requires. */
  responseRequired: Record<string, string[]>;
  /** Marked `x-boxlite-unsupported`: answered, but refused by this build. */
  unsupported: boolean;
}

export interface ContractFacts {
  /** Where the facts were read from. */
  source: string;
  /** Keyed "METHOD /path", the path without its `/{prefix}` slot. */
  operations: Record<string, OperationFacts>;
}

const METHODS = ["get", "head", "post", "put", "delete", "patch"];

/** Follows `#/components/...` references of `document`. */
function resolve(document: Json, value: Json): Json {
  const ref = value.$ref;
  if (typeof ref !== "string") return value;
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, "").split("/")) node = (node as Json)[part];
  return resolve(document, node as Json);
}

function jsonSchemaOf(document: Json, holder: Json | undefined): Json | undefined {
  const schema = (holder?.content as Record<string, { schema?: Json }> | undefined)?.["application/json"]?.schema;
  return schema ? resolve(document, schema) : undefined;
}

function fieldsOf(schema: Json): { fields: string[]; required: string[] } {
  return { fields: Object.keys((schema.properties as Json | undefined) ?? {}).sort(), required: [...((schema.required as string[] | undefined) ?? [])].sort() };
}

function readOperation(document: Json, op: Json, shared: Json[]): OperationFacts {
  const parameters = [...shared, ...((op.parameters as Json[] | undefined) ?? [])]
    .map((param) => resolve(document, param))
    .filter((param) => (param.in === "path" || param.in === "query") && param.name !== "prefix")
    .map((param) => ({ in: param.in as "path" | "query", name: String(param.name), required: param.required === true }));
  const body = op.requestBody ? resolve(document, op.requestBody as Json) : undefined;
  const bodySchema = jsonSchemaOf(document, body);
  const responses = (op.responses as Record<string, Json> | undefined) ?? {};
  const responseRequired: Record<string, string[]> = {};
  for (const [status, response] of Object.entries(responses)) {
    if (!status.startsWith("2")) continue;
    const schema = jsonSchemaOf(document, resolve(document, response));
    if (schema) responseRequired[status] = fieldsOf(schema).required;
  }
  return {
    parameters,
    request: body ? { required: body.required === true, json: bodySchema ? fieldsOf(bodySchema) : null } : null,
    statuses: Object.keys(responses).sort(),
    responseRequired,
    unsupported: op["x-boxlite-unsupported"] === true,
  };
}

/** The facts of every operation of an OpenAPI 3 document. */
export function readContractFacts(document: Json, source: string): ContractFacts {
  const operations: Record<string, OperationFacts> = {};
  for (const [rawPath, item] of Object.entries(document.paths as Record<string, Json>)) {
    const path = rawPath.replace(/^\/\{prefix\}/, "");
    const shared = (item.parameters as Json[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (op) operations[`${method.toUpperCase()} ${path}`] = readOperation(document, op, shared);
    }
  }
  return { source, operations };
}
