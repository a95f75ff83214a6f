/** Discovery and identity (GET /v1/config, /v1/me) and the runtime's counters (GET /v1/metrics). */
import { Type } from "@sinclair/typebox";

export const ServerConfig = Type.Object({
  defaults: Type.Object({ cpus: Type.Integer(), memory_mib: Type.Integer(), auto_delete: Type.Integer() }),
  capabilities: Type.Object({
    linux_capabilities_enabled: Type.Boolean(),
    snapshots_enabled: Type.Boolean(),
    clone_enabled: Type.Boolean(),
    export_enabled: Type.Boolean(),
    import_enabled: Type.Boolean(),
    tty_enabled: Type.Boolean(),
    streaming_enabled: Type.Boolean(),
    max_cpus: Type.Integer(),
    max_memory_mib: Type.Integer(),
    max_concurrent_executions: Type.Integer(),
  }),
});

export const Principal = Type.Object({
  sub: Type.String(),
  principal_type: Type.Union([Type.Literal("user"), Type.Literal("service_account")]),
  path_prefix: Type.Null({ description: "The local server has no routing slot: build URLs as /v1/boxes/…" }),
  scopes: Type.Array(Type.String()),
  expires_at: Type.Null(),
});

export const RuntimeMetrics = Type.Object({
  boxes_created_total: Type.Integer({ description: "Since this server started (monotonic)" }),
  boxes_failed_total: Type.Integer({ description: "Starts through this server that failed (monotonic)" }),
  boxes_stopped_total: Type.Integer({ description: "Stops through this server (monotonic)" }),
  num_running_boxes: Type.Integer({ description: "Boxes of this home running now, whoever started them" }),
  total_commands_executed: Type.Integer({ description: "Executions this server started (monotonic)" }),
  total_exec_errors: Type.Integer({ description: "Executions this server failed to start (monotonic)" }),
});
