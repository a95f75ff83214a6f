/**
 * Boxes on the wire (the reference server's `types.rs` and its contract
 * `openapi/box.openapi.yaml`, boxlite-ai/boxlite): what a client sends to create, list,
 * remove and stop boxes, and the Box and BoxMetrics it gets back.
 * Optional request fields also take `null`, as serde's `Option` does.
 */
import { Type } from "@sinclair/typebox";
import { BOX_STATUSES } from "../../db/box-status.ts";
import { MEMORY_MIN_MIB } from "../../model/box-options.ts";

import { Maybe } from "../../model/create-request.ts";

export const BoxStatus = Type.Union(
  BOX_STATUSES.map((status) => Type.Literal(status)),
  { description: "configured, running, stopping, stopped, paused, failed or unknown" },
);

const NetworkMode = Type.Union([Type.Literal("enabled"), Type.Literal("disabled")]);

/** A port a running box publishes (the reference's BoxInfo.network.published_ports entry). */
export const PublishedPort = Type.Object({
  host_ip: Type.String(),
  host_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  guest_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  protocol: Type.Literal("tcp"),
});

/**
 * The box's network as the newer clients read it (`outbound`, `inbound`), with the flat
 * `mode`/`allow_net` mirrors the older ones read, and the ports it publishes while it runs.
 */
export const BoxNetwork = Type.Object({
  outbound: Type.Object({ mode: NetworkMode, allow_net: Type.Array(Type.String()) }),
  inbound: Type.Object({ mode: NetworkMode }, { description: "The outbound mode: a box with a network can be reached through a tunnel" }),
  mode: NetworkMode,
  allow_net: Type.Array(Type.String()),
  published_ports: Type.Array(PublishedPort, { description: "Empty unless the box runs and publishes ports (CLI -p, library ports)" }),
});

export const Box = Type.Object({
  box_id: Type.String({ minLength: 1, maxLength: 128 }),
  name: Type.Union([Type.String(), Type.Null()]),
  status: BoxStatus,
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
  pid: Type.Union([Type.Integer(), Type.Null()], { description: "The VMM's pid while the box runs" }),
  image: Type.String({ description: "The image reference, or the rootfs path" }),
  cpus: Type.Integer({ minimum: 1 }),
  memory_mib: Type.Integer({ minimum: MEMORY_MIN_MIB }),
  labels: Type.Record(Type.String(), Type.String(), { description: "Always empty: labels are not supported" }),
  auto_pause: Type.Integer({ minimum: 0, description: "Always 0: the local server has no AutoStop (the older contract's name)" }),
  auto_stop: Type.Integer({ minimum: 0, description: "Always 0: the local server has no AutoStop" }),
  auto_delete: Type.Integer({ minimum: 0, description: "1: the box is removed as soon as it stops (any auto_delete > 0 at create), 0: kept" }),
  auto_resume: Type.Boolean({ description: "Always true, the contract's default (boxes never pause here)" }),
  exit_code: Type.Union([Type.Integer(), Type.Null()], { description: "The main command's exit code once it ended" }),
  error_reason: Type.Union([Type.String(), Type.Null()], { description: "Why the box failed, when it did" }),
  network: BoxNetwork,
  suspended: Type.Optional(
    Type.Boolean({ description: "A boxlite extension: true when the box is stopped with a saved state that its next start resumes (boxlite suspend)" }),
  ),
  volumes: Type.Optional(
    Type.Array(
      Type.Object({
        host_path: Type.String({ description: "The directory or file on the server's host" }),
        guest_path: Type.String(),
        read_only: Type.Boolean(),
        managed_volume: Type.Optional(Type.String({ description: "The named volume's id, when the mount is one" })),
        anonymous: Type.Optional(Type.Boolean({ description: "true for an anonymous volume (made under the home at create)" })),
      }),
      { description: "The box's volumes (the older contract's VolumeSpec, with the newer one's managed_volume)" },
    ),
  ),
});

/** The create request of both contracts (model/create-request.ts, where the codec reads it). */
export { CreateBoxRequest } from "../../model/create-request.ts";

export const StopBoxRequest = Type.Object(
  { timeout_seconds: Maybe(Type.Number({ minimum: 0, maximum: 86_400, description: "Grace before power-off; default: the runtime's 10 s" })) },
  { additionalProperties: false },
);

export const ListBoxesQuery = Type.Object(
  {
    pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    pageToken: Type.Optional(Type.String({ maxLength: 64 })),
    status: Type.Optional(BoxStatus),
  },
  { additionalProperties: false },
);

export const ListBoxesResponse = Type.Object({
  boxes: Type.Array(Box),
  next_page_token: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

/** `force` defaults to true here, as on the local reference server (the contract says false). */
export const RemoveBoxQuery = Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

const NullableInteger = Type.Union([Type.Integer(), Type.Null()]);

export const BootTiming = Type.Object({
  total_create_ms: NullableInteger,
  guest_boot_ms: NullableInteger,
  filesystem_setup_ms: NullableInteger,
  image_prepare_ms: NullableInteger,
  guest_rootfs_ms: NullableInteger,
  box_config_ms: NullableInteger,
  box_spawn_ms: NullableInteger,
  container_init_ms: NullableInteger,
});

export const BoxMetrics = Type.Object({
  commands_executed_total: Type.Integer({ description: "Executions this server started in the box" }),
  exec_errors_total: Type.Integer(),
  bytes_sent_total: Type.Integer(),
  bytes_received_total: Type.Integer(),
  cpu_percent: Type.Union([Type.Number(), Type.Null()], { description: "Of one host CPU over half a second; null unless running" }),
  memory_bytes: NullableInteger,
  network_bytes_sent: NullableInteger,
  network_bytes_received: NullableInteger,
  network_tcp_connections: NullableInteger,
  network_tcp_errors: NullableInteger,
  boot_timing: Type.Optional(BootTiming),
});
