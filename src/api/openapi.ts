/**
 * GET /v1/openapi.json: an OpenAPI 3.1 document built from the route table
 * (schemas/routes.ts) and the TypeBox schemas the routes validate with, so the document
 * cannot drift from what the server checks. Paths have no `{prefix}` slot: the local
 * server has none (GET /v1/me says `path_prefix: null`).
 */
import type { TObject, TSchema } from "@sinclair/typebox";
import { Hono } from "hono";
import { VERSION } from "../config/version.ts";
import type { ApiEnv } from "./middleware.ts";
import * as boxes from "./schemas/boxes.ts";
import { ErrorResponse } from "./schemas/errors.ts";
import * as executions from "./schemas/executions.ts";
import * as images from "./schemas/images.ts";
import { type BodySpec, ROUTES, type ResultSpec, type RouteSpec } from "./schemas/routes.ts";
import * as snapshots from "./schemas/snapshots.ts";
import * as system from "./schemas/system.ts";

type Json = Record<string, unknown>;

/** Named schemas: a route's body or result that is one of these is a `$ref`. */
const COMPONENTS: Record<string, TSchema> = {
  Box: boxes.Box,
  BoxStatus: boxes.BoxStatus,
  CreateBoxRequest: boxes.CreateBoxRequest,
  StopBoxRequest: boxes.StopBoxRequest,
  ListBoxesResponse: boxes.ListBoxesResponse,
  BoxMetrics: boxes.BoxMetrics,
  ExecRequest: executions.ExecRequest,
  ExecResponse: executions.ExecResponse,
  ExecutionInfo: executions.ExecutionInfo,
  SignalRequest: executions.SignalRequest,
  ResizeRequest: executions.ResizeRequest,
  Snapshot: snapshots.Snapshot,
  CreateSnapshotRequest: snapshots.CreateSnapshotRequest,
  ListSnapshotsResponse: snapshots.ListSnapshotsResponse,
  CloneBoxRequest: snapshots.CloneBoxRequest,
  ExportBoxRequest: snapshots.ExportBoxRequest,
  ImageInfo: images.ImageInfo,
  PullImageRequest: images.PullImageRequest,
  ListImagesResponse: images.ListImagesResponse,
  ServerConfig: system.ServerConfig,
  Principal: system.Principal,
  RuntimeMetrics: system.RuntimeMetrics,
  ErrorResponse,
};

const NAMES = new Map<TSchema, string>(Object.entries(COMPONENTS).map(([name, schema]) => [schema, name]));

const DESCRIPTIONS: Record<number, string> = {
  101: "Switching to the WebSocket protocol",
  200: "OK",
  201: "Created",
  204: "No content",
  400: "Invalid request, or not supported by this server",
  401: "Missing or wrong API key",
  404: "Not found",
  409: "Conflict with the current state",
  413: "Request body too large",
  422: "Image could not be pulled",
  500: "Server failure",
  503: "The VMM or the guest is unavailable",
  504: "Timed out",
};

/** TypeBox marks its schemas with symbol keys; JSON keeps only the JSON Schema. */
function toJson(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

function refOrInline(schema: TSchema): Json {
  const name = NAMES.get(schema);
  return name !== undefined ? { $ref: `#/components/schemas/${name}` } : toJson(schema);
}

function describeContent(spec: TSchema | { media: string }): Json {
  if ("media" in spec && typeof spec.media === "string") return { [spec.media]: { schema: { type: "string", format: "binary" } } };
  return { "application/json": { schema: refOrInline(spec as TSchema) } };
}

function describeBody(body: BodySpec): Json {
  return { required: body.required, content: "schema" in body ? describeContent(body.schema) : describeContent({ media: body.media }) };
}

function describeParameters(path: string, query: TObject | undefined): Json[] {
  const fromPath = [...path.matchAll(/\{([a-z_]+)\}/g)].map((match) => ({
    name: match[1],
    in: "path",
    required: true,
    schema: { type: "string", minLength: 1, maxLength: 128 },
  }));
  const required = new Set(query?.required ?? []);
  const fromQuery = Object.entries(query?.properties ?? {}).map(([name, schema]) => ({
    name,
    in: "query",
    required: required.has(name),
    schema: toJson(schema),
  }));
  return [...fromPath, ...fromQuery];
}

function describeResponse(status: number, result: ResultSpec | undefined): Json {
  const description = DESCRIPTIONS[status] ?? "";
  if (result === null || result === undefined) return { description };
  return { description, content: describeContent(result) };
}

function describeOperation(route: RouteSpec): Json {
  const responses: Json = {};
  for (const [status, result] of Object.entries(route.success)) responses[status] = describeResponse(Number(status), result);
  const errors = new Set([...(route.errors ?? []), 400, 500]);
  if (!route.public) errors.add(401);
  if (route.body && "schema" in route.body) errors.add(413);
  for (const status of [...errors].sort((a, b) => a - b))
    responses[status] = route.method === "HEAD" ? describeResponse(status, null) : describeResponse(status, ErrorResponse);
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(route.public ? { security: [] } : {}),
    ...(route.unsupported ? { "x-boxlite-unsupported": true } : {}),
    parameters: describeParameters(route.path, route.query),
    ...(route.body ? { requestBody: describeBody(route.body) } : {}),
    responses,
  };
}

/** The whole document. */
export function openapiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    const item = (paths[route.path] as Json | undefined) ?? {};
    paths[route.path] = item;
    item[route.method.toLowerCase()] = describeOperation(route);
  }
  const schemas = Object.fromEntries(Object.entries(COMPONENTS).map(([name, schema]) => [name, toJson(schema)]));
  return {
    openapi: "3.1.1",
    info: { title: "boxlite REST API", version: VERSION, description: "The local boxlite server (boxlite serve). See docs/rest-api.md." },
    servers: [{ url: "/v1" }],
    security: [{ BearerAuth: [] }],
    paths,
    components: { securitySchemes: { BearerAuth: { type: "http", scheme: "bearer" } }, schemas },
  };
}

/** GET /openapi.json, to be mounted under /v1. */
export function openapiRoutes(): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  // Built once: the table and the schemas are constants.
  const document = openapiDocument();
  routes.get("/openapi.json", (c) => c.json(document));
  return routes;
}
