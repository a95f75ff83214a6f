/**
 * Every route the server answers, in one table (the rows of snapshots, clone, export and
 * import are kept in routes-snapshots.ts): the source of GET /v1/openapi.json
 * (openapi.ts), of the contract test against the reference's box.openapi.yaml and of the
 * fuzzer. Paths are under /v1 and written as OpenAPI paths (`{box_id}`); the hono routes
 * live in routes/*.ts, and test/api checks that each row reaches one.
 */
import { TunnelDescriptor, TunnelQuery } from "./network.ts";
import type { TObject, TSchema } from "@sinclair/typebox";
import { Box, BoxMetrics, CreateBoxRequest, ListBoxesQuery, ListBoxesResponse, RemoveBoxQuery, StopBoxRequest } from "./boxes.ts";
import { DownloadQuery, ExecRequest, ExecResponse, ExecutionInfo, ResizeRequest, SignalRequest, UploadQuery } from "./executions.ts";
import { ImageInfo, ListImagesQuery, ListImagesResponse, PullImageRequest } from "./images.ts";
import { Principal, RuntimeMetrics, ServerConfig } from "./system.ts";
import { SNAPSHOT_ROUTES } from "./routes-snapshots.ts";
import { CreateVolumeRequest, ListVolumesResponse, RemoveVolumeQuery, Volume } from "./volumes.ts";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/** A request body: JSON checked against a schema, or raw bytes of a media type. */
export type BodySpec = { schema: TSchema; required: boolean } | { media: string; required: boolean };

/** What a success answers: a JSON schema, raw bytes of a media type, or nothing. */
export type ResultSpec = TSchema | { media: string } | null;

export interface RouteSpec {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  tag: "Configuration" | "Authentication" | "Boxes" | "Execution" | "Files" | "Network" | "Metrics" | "Images" | "Volumes";
  /** Answered without the API key (only GET /v1/config). */
  public?: boolean;
  /** Answers 400 `unsupported` in this build (none does today; the document marks such a route `x-boxlite-unsupported`). */
  unsupported?: boolean;
  /** A WebSocket upgrade (101). */
  websocket?: boolean;
  body?: BodySpec;
  query?: TObject;
  /** The success statuses. */
  success: Record<number, ResultSpec>;
  /** Error statuses besides those every route may answer (400 bad input, 401, 500). */
  errors?: number[];
}

const TAR = { media: "application/x-tar" };

/** POST …/pause, …/unpause, …/suspend or …/resume: boxlite's own, in no contract; the Box as it is then. */
function pauseRoute(action: "pause" | "unpause" | "suspend" | "resume", summary: string): RouteSpec {
  return {
    method: "POST",
    path: `/boxes/{box_id}/${action}`,
    operationId: `${action}Box`,
    summary,
    tag: "Boxes",
    success: { 200: Box },
    errors: [404, 409, 503],
  };
}

/** The routes, in the order the document lists them. */
export const ROUTES: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/config",
    operationId: "getConfig",
    summary: "Server defaults and capabilities (no key needed)",
    tag: "Configuration",
    public: true,
    success: { 200: ServerConfig },
  },
  {
    method: "GET",
    path: "/me",
    operationId: "getCurrentPrincipal",
    summary: "The calling credential's principal",
    tag: "Authentication",
    success: { 200: Principal },
  },
  { method: "GET", path: "/metrics", operationId: "getRuntimeMetrics", summary: "This server's counters", tag: "Metrics", success: { 200: RuntimeMetrics } },
  {
    method: "GET",
    path: "/openapi.json",
    operationId: "getOpenApi",
    summary: "This document",
    tag: "Configuration",
    success: { 200: { media: "application/json" } },
  },

  {
    method: "POST",
    path: "/boxes",
    operationId: "createBox",
    summary: "Create a box (configured; not booted)",
    tag: "Boxes",
    body: { schema: CreateBoxRequest, required: true },
    success: { 201: Box },
    errors: [404, 409, 422],
  },
  {
    method: "GET",
    path: "/boxes",
    operationId: "listBoxes",
    summary: "Every box of the home, newest first",
    tag: "Boxes",
    query: ListBoxesQuery,
    success: { 200: ListBoxesResponse },
  },
  {
    method: "GET",
    path: "/boxes/{box_id}",
    operationId: "getBox",
    summary: "A box by id, unique id prefix or name",
    tag: "Boxes",
    success: { 200: Box },
    errors: [404],
  },
  { method: "HEAD", path: "/boxes/{box_id}", operationId: "boxExists", summary: "Whether a box exists", tag: "Boxes", success: { 204: null }, errors: [404] },
  {
    method: "DELETE",
    path: "/boxes/{box_id}",
    operationId: "removeBox",
    summary: "Remove a box (force defaults to true, as the local reference)",
    tag: "Boxes",
    query: RemoveBoxQuery,
    success: { 204: null },
    errors: [404, 409],
  },
  {
    method: "POST",
    path: "/boxes/{box_id}/start",
    operationId: "startBox",
    summary: "Start a box (a running box is answered as it is)",
    tag: "Boxes",
    success: { 200: Box },
    errors: [404, 409, 503],
  },
  {
    method: "POST",
    path: "/boxes/{box_id}/stop",
    operationId: "stopBox",
    summary: "Stop a box: SIGTERM, then power-off after timeout_seconds",
    tag: "Boxes",
    body: { schema: StopBoxRequest, required: false },
    success: { 200: Box },
    errors: [404, 409],
  },
  pauseRoute("pause", "Stop a running box's VM in place, its memory kept, until unpause or stop (a boxlite extension)"),
  pauseRoute("unpause", "Let a paused box go on (a boxlite extension)"),
  pauseRoute("suspend", "Save a running box's whole state to its directory and end its VM; it is stopped (suspended) until resumed (a boxlite extension)"),
  pauseRoute("resume", "Bring a suspended box back where it was (a boxlite extension)"),
  {
    method: "GET",
    path: "/boxes/{box_id}/attach",
    operationId: "attachBox",
    summary: "Attach to the box's main command (WebSocket; boots a box that is not running, held until POST start); X-Boxlite-Execution-Id names its execution",
    tag: "Boxes",
    websocket: true,
    success: { 101: null },
    errors: [404, 409],
  },
  {
    method: "GET",
    path: "/boxes/{box_id}/metrics",
    operationId: "getBoxMetrics",
    summary: "A box's CPU, memory and exec counters",
    tag: "Metrics",
    success: { 200: BoxMetrics },
    errors: [404],
  },

  {
    method: "POST",
    path: "/boxes/{box_id}/exec",
    operationId: "startExecution",
    summary: "Start a command (the box is started first when needed)",
    tag: "Execution",
    body: { schema: ExecRequest, required: true },
    success: { 201: ExecResponse },
    errors: [404, 409],
  },
  {
    method: "GET",
    path: "/boxes/{box_id}/executions/{exec_id}",
    operationId: "getExecution",
    summary: "An execution's status",
    tag: "Execution",
    success: { 200: ExecutionInfo },
    errors: [404],
  },
  {
    method: "DELETE",
    path: "/boxes/{box_id}/executions/{exec_id}",
    operationId: "killExecution",
    summary: "SIGKILL an execution and forget it",
    tag: "Execution",
    success: { 204: null },
    errors: [404, 504],
  },
  {
    method: "GET",
    path: "/boxes/{box_id}/executions/{exec_id}/attach",
    operationId: "attachExecution",
    summary: "Attach to an execution's stdio (WebSocket)",
    tag: "Execution",
    websocket: true,
    success: { 101: null },
    errors: [404, 409],
  },
  {
    method: "POST",
    path: "/boxes/{box_id}/executions/{exec_id}/signal",
    operationId: "signalExecution",
    summary: "Send a signal (1, 2, 3, 6, 10, 12, 15, 28)",
    tag: "Execution",
    body: { schema: SignalRequest, required: true },
    success: { 204: null },
    errors: [404, 409],
  },
  {
    method: "POST",
    path: "/boxes/{box_id}/executions/{exec_id}/resize",
    operationId: "resizeExecution",
    summary: "Resize an execution's terminal",
    tag: "Execution",
    body: { schema: ResizeRequest, required: true },
    success: { 204: null },
    errors: [404, 409],
  },

  {
    method: "PUT",
    path: "/boxes/{box_id}/files",
    operationId: "uploadFiles",
    summary: "Write a tar at a path of a box: a one-file tar as that file, unless the path ends in / or is a directory",
    tag: "Files",
    query: UploadQuery,
    body: { media: TAR.media, required: true },
    success: { 204: null },
    errors: [404, 409],
  },
  {
    method: "GET",
    path: "/boxes/{box_id}/files",
    operationId: "downloadFiles",
    summary: "A path of a box as a tar",
    tag: "Files",
    query: DownloadQuery,
    success: { 200: TAR },
    errors: [404, 409],
  },

  {
    method: "GET",
    path: "/images",
    operationId: "listImages",
    summary: "The cached images, most recently pulled first",
    tag: "Images",
    query: ListImagesQuery,
    success: { 200: ListImagesResponse },
  },
  {
    method: "POST",
    path: "/images/pull",
    operationId: "pullImage",
    summary: "Pull an image and prepare its base disk",
    tag: "Images",
    body: { schema: PullImageRequest, required: true },
    success: { 200: ImageInfo },
    errors: [404, 422],
  },
  {
    method: "GET",
    path: "/images/{image_id}",
    operationId: "getImage",
    summary: "A cached image by manifest digest or reference",
    tag: "Images",
    success: { 200: ImageInfo },
    errors: [404],
  },
  {
    method: "HEAD",
    path: "/images/{image_id}",
    operationId: "imageExists",
    summary: "Whether an image is cached",
    tag: "Images",
    success: { 204: null },
    errors: [404],
  },
  {
    method: "POST",
    path: "/boxes/{box_id}/network/tunnel",
    operationId: "prepareTunnel",
    summary: "A URI that relays to a TCP port of the box (CONNECT for raw TCP, or plain HTTP); the box is booted if stopped",
    tag: "Network",
    query: TunnelQuery,
    success: { 200: TunnelDescriptor },
    errors: [404, 409],
  },
  {
    method: "POST",
    path: "/volumes",
    operationId: "createVolume",
    summary: "Create a named volume (named after its id when the body has no name)",
    tag: "Volumes",
    body: { schema: CreateVolumeRequest, required: false },
    success: { 201: Volume },
    errors: [409],
  },
  {
    method: "GET",
    path: "/volumes",
    operationId: "listVolumes",
    summary: "Every named volume, newest first",
    tag: "Volumes",
    success: { 200: ListVolumesResponse },
  },
  {
    method: "GET",
    path: "/volumes/{volume_id}",
    operationId: "getVolume",
    summary: "A named volume by id, name or unique id prefix",
    tag: "Volumes",
    success: { 200: Volume },
    errors: [404],
  },
  {
    method: "DELETE",
    path: "/volumes/{volume_id}",
    operationId: "removeVolume",
    summary: "Remove a named volume and its data (409 while a box uses it, unless force; force takes a missing one as removed)",
    tag: "Volumes",
    query: RemoveVolumeQuery,
    success: { 204: null },
    errors: [404, 409],
  },

  ...SNAPSHOT_ROUTES,
];
