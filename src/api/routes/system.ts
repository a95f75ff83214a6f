/**
 * GET /v1/config (capabilities; public), GET /v1/me (the local server's fixed principal)
 * and GET /v1/metrics (this server's counters), as the reference's serve answers them
 * (boxlite-ai/boxlite `src/cli/src/commands/serve/handlers/`), with capabilities saying what this build really does.
 */
import type { Static } from "@sinclair/typebox";
import { Hono } from "hono";
import { CPUS_MAX, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, MEMORY_MAX_MIB } from "../../model/box-options.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import type { Principal, RuntimeMetrics, ServerConfig } from "../schemas/system.ts";

/** The guest agent runs at most this many commands per box (docs/cli.md "exec"). */
const MAX_EXECUTIONS_PER_BOX = 64;

interface BoxCounters {
  commands: number;
  errors: number;
}

/**
 * Monotonic counters since this server started: what went through it. The reference
 * counts per runtime; ours is per server, since boxes here outlive any one process.
 */
export class ServerCounters {
  boxesCreated = 0;
  boxesFailed = 0;
  boxesStopped = 0;
  commandsExecuted = 0;
  execErrors = 0;
  private readonly perBox = new Map<string, BoxCounters>();

  /** An exec request through this server: started (2xx) or refused. */
  countExec(boxId: string | undefined, started: boolean): void {
    if (started) this.commandsExecuted++;
    else this.execErrors++;
    if (boxId === undefined) return;
    const counters = this.perBox.get(boxId) ?? { commands: 0, errors: 0 };
    if (started) counters.commands++;
    else counters.errors++;
    this.perBox.set(boxId, counters);
  }

  /** The exec counters of one box. */
  box(boxId: string): BoxCounters {
    return this.perBox.get(boxId) ?? { commands: 0, errors: 0 };
  }
}

const CONFIG: Static<typeof ServerConfig> = {
  defaults: { cpus: DEFAULT_CPUS, memory_mib: DEFAULT_MEMORY_MIB, auto_delete: 0 },
  capabilities: {
    // advanced.capabilities is applied by the guest (docs/security.md).
    linux_capabilities_enabled: true,
    // The reference's clients refuse these operations unless each is advertised as true.
    snapshots_enabled: true,
    clone_enabled: true,
    export_enabled: true,
    import_enabled: true,
    tty_enabled: true,
    streaming_enabled: true,
    max_cpus: CPUS_MAX,
    max_memory_mib: MEMORY_MAX_MIB,
    max_concurrent_executions: MAX_EXECUTIONS_PER_BOX,
  },
};

/**
 * The reference's local principal: one anonymous service account with every scope, and
 * `volume:*` since this server serves /v1/volumes (the contract: a server reports the
 * volume scopes exactly when it has managed volumes).
 */
const PRINCIPAL: Static<typeof Principal> = {
  sub: "local-anonymous",
  principal_type: "service_account",
  path_prefix: null,
  scopes: ["box:*", "image:*", "snapshot:*", "volume:*", "me:read"],
  expires_at: null,
};

/** GET /config, /me and /metrics, to be mounted under /v1. */
export function systemRoutes(context: ApiContext, counters: ServerCounters): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  routes.get("/config", (c) => c.json(CONFIG));
  routes.get("/me", (c) => c.json(PRINCIPAL));
  routes.get("/metrics", async (c) => {
    const running = await context.runtime.listBoxes();
    const metrics: Static<typeof RuntimeMetrics> = {
      boxes_created_total: counters.boxesCreated,
      boxes_failed_total: counters.boxesFailed,
      boxes_stopped_total: counters.boxesStopped,
      num_running_boxes: running.filter((box) => box.status === "running").length,
      total_commands_executed: counters.commandsExecuted,
      total_exec_errors: counters.execErrors,
    };
    return c.json(metrics);
  });
  return routes;
}
