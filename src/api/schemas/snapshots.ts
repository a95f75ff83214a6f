/**
 * Snapshots, clone, export and import on the wire (the contract's Snapshot,
 * CreateSnapshotRequest, ListSnapshotsResponse, CloneBoxRequest, ExportBoxRequest, and
 * import's `?name=`). Names are checked by the runtime, which says what is wrong with one.
 */
import { Type } from "@sinclair/typebox";

export const Snapshot = Type.Object({
  id: Type.String({ description: "The snapshot's id" }),
  box_id: Type.String({ description: "The box it belongs to" }),
  name: Type.String({ description: "Unique per box" }),
  created_at: Type.Integer({ description: "Unix seconds" }),
  guest_disk_bytes: Type.Integer({ minimum: 0, description: "Always 0: a box has one disk here, the container disk" }),
  container_disk_bytes: Type.Integer({ minimum: 0, description: "Virtual size of the disk, bytes" }),
  size_bytes: Type.Integer({ minimum: 0, description: "Bytes the snapshot's disk takes on the host" }),
});

/** The runtime checks the name (one path segment, not hidden, up to 255 bytes) and says what is wrong with it. */
export const CreateSnapshotRequest = Type.Object({ name: Type.String() }, { additionalProperties: false });

export const ListSnapshotsResponse = Type.Object({ snapshots: Type.Array(Snapshot, { description: "Newest first" }) });

export const CloneBoxRequest = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "Name for the clone; none when left out" })) },
  { additionalProperties: false },
);

export const ExportBoxRequest = Type.Object({}, { additionalProperties: false, description: "No options yet; the clients send {}" });

export const ImportBoxQuery = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "Name for the imported box; none when left out" })) },
  { additionalProperties: false },
);
