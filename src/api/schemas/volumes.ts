/** Named volumes on the wire (the newer contract's Volume, VolumeSummary, ListVolumesResponse, CreateVolumeRequest). */
import { Type } from "@sinclair/typebox";

/** Ours are always ready: a volume is a directory, made before the create is answered. */
export const VolumeState = Type.Union(
  ["creating", "ready", "pending_create", "pending_delete", "deleting", "deleted", "error"].map((state) => Type.Literal(state)),
  { description: "Managed volume lifecycle state" },
);

export const CreateVolumeRequest = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.-]+$",
        minLength: 2,
        maxLength: 64,
        description: "Unique volume name, usable in place of the id; defaults to the id",
      }),
    ),
  },
  { additionalProperties: false },
);

export const Volume = Type.Object({
  id: Type.String({ description: "Server-assigned volume id (a lowercase ULID)" }),
  name: Type.String(),
  state: VolumeState,
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
  last_used_at: Type.Optional(Type.String({ format: "date-time" })),
  error_reason: Type.Optional(Type.String()),
});

export const VolumeSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: VolumeState,
  created_at: Type.String({ format: "date-time" }),
});

export const ListVolumesResponse = Type.Object({ volumes: Type.Array(VolumeSummary) });

export const RemoveVolumeQuery = Type.Object(
  { force: Type.Optional(Type.Boolean({ description: "Remove a volume boxes use, and take a missing one as removed" })) },
  { additionalProperties: false },
);
