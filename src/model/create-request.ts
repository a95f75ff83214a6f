/**
 * The REST create request as the published clients send it: the union of the reference's
 * older contract (0.9.7: flat `network`, host-path `volumes`, `security`, `auto_pause`)
 * and its newer one (nested `network.outbound`/`inbound`, managed `volumes`, `tty`,
 * `auto_stop`), plus `auto_remove`, which 0.9.7 sends on every create though no contract
 * lists it. Optional fields also take `null`, as serde's `Option` does. fields.ts maps it
 * to and from BoxOptions; docs/rest-api.md lists which shapes are accepted.
 */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { CPUS_MAX, DISK_SIZE_MAX_GB, DISK_SIZE_MIN_GB, MEMORY_MAX_MIB, MEMORY_MIN_MIB } from "./box-options.ts";

/** A field that may be left out or sent as null. */
export function Maybe<T extends TSchema>(schema: T) {
  return Type.Optional(Type.Union([schema, Type.Null()]));
}

const Mode = Type.Union([Type.Literal("enabled"), Type.Literal("disabled")]);
const Hosts = Type.Array(Type.String());
const Direction = Type.Object({ mode: Mode, allow_net: Maybe(Hosts) }, { additionalProperties: false });

/** Either shape (never both in one request: fields.ts refuses the mix, as the newer contract says). */
export const NetworkSpec = Type.Object(
  {
    outbound: Maybe(Direction),
    inbound: Maybe(Direction),
    mode: Maybe(Mode),
    allow_net: Maybe(Hosts),
  },
  { additionalProperties: false, description: 'Nested {"outbound": {mode, allow_net}, "inbound": {mode}}, or the older flat {mode, allow_net}' },
);

const Capabilities = Type.Object({ add: Maybe(Type.Array(Type.String())), drop: Maybe(Type.Array(Type.String())) }, { additionalProperties: false });

/** A host directory (older contract) or a managed volume by id or name (newer contract). */
const VolumeSpec = Type.Union([
  Type.Object({ host_path: Type.String(), guest_path: Type.String(), read_only: Maybe(Type.Boolean()) }, { additionalProperties: false }),
  Type.Object({ managed_volume: Type.String({ minLength: 1 }), guest_path: Type.String(), read_only: Maybe(Type.Boolean()) }, { additionalProperties: false }),
]);

const SecretSpec = Type.Object(
  { name: Type.String(), value: Type.String(), hosts: Maybe(Type.Array(Type.String())), placeholder: Maybe(Type.String()) },
  { additionalProperties: false },
);

export const CreateBoxRequest = Type.Object(
  {
    name: Maybe(Type.String({ minLength: 1, maxLength: 128, pattern: "^[a-zA-Z0-9][a-zA-Z0-9._-]*$" })),
    image: Maybe(Type.String({ minLength: 1, description: "Default: the image embedded in boxlite (busybox)" })),
    rootfs_path: Maybe(Type.String({ minLength: 1, description: "An OCI layout directory or docker archive on the server" })),
    cpus: Maybe(Type.Integer({ minimum: 1, maximum: CPUS_MAX })),
    memory_mib: Maybe(Type.Integer({ minimum: MEMORY_MIN_MIB, maximum: MEMORY_MAX_MIB })),
    disk_size_gb: Maybe(
      Type.Integer({
        minimum: DISK_SIZE_MIN_GB,
        maximum: DISK_SIZE_MAX_GB,
        description: "The box's disk in GiB (sparse): the larger of this and the image's size; the guest grows its filesystem to fill it",
      }),
    ),
    working_dir: Maybe(Type.String({ minLength: 1 })),
    env: Maybe(Type.Record(Type.String(), Type.String())),
    entrypoint: Maybe(Type.Array(Type.String())),
    cmd: Maybe(Type.Array(Type.String())),
    user: Maybe(Type.String({ minLength: 1 })),
    tty: Maybe(Type.Boolean()),
    advanced: Maybe(Type.Object({ capabilities: Maybe(Capabilities) }, { additionalProperties: false })),
    network: Maybe(NetworkSpec),
    security: Maybe(Type.Union([Type.Literal("development"), Type.Literal("standard"), Type.Literal("maximum")])),
    volumes: Maybe(Type.Array(VolumeSpec)),
    secrets: Maybe(Type.Array(SecretSpec)),
    detach: Maybe(Type.Boolean({ description: "Outlives the server that made it; default: true unless the box is removed on stop" })),
    auto_pause: Maybe(Type.Integer({ minimum: 0, description: "The older name of auto_stop" })),
    auto_stop: Maybe(Type.Integer({ minimum: 0, description: "Only 0: AutoStop is a cloud feature" })),
    auto_delete: Maybe(Type.Integer({ minimum: 0, description: "0 keeps the box; more removes it as soon as it stops (as the local reference)" })),
    auto_resume: Maybe(Type.Boolean()),
    auto_remove: Maybe(Type.Boolean({ description: "What 0.9.7 clients send: true is auto_delete 1" })),
  },
  { additionalProperties: false },
);

export type CreateBoxRequest = Static<typeof CreateBoxRequest>;
