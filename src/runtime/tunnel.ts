/**
 * A connection to a TCP port of a box, through its network process: what `boxlite tunnel`
 * forwards and what `boxlite serve`'s tunnels relay. The box is booted first when it is
 * stopped (as for exec and copy).
 */
import type { Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";
import { boxFacts } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";
import { readyBox } from "./lifecycle.ts";
import { dialBoxPort } from "./net-control.ts";
import { resolveReconciled } from "./reconcile.ts";

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BoxliteError("invalid_argument", `port ${port} is outside 1-65535`);
}

/** Readies the box for tunnels to its ports (refused before any boot when it has no network); returns its id. */
export async function readyForTunnel(home: Home, idOrName: string): Promise<string> {
  const stored = resolveReconciled(home.config, home.database, idOrName);
  if (boxFacts(stored).resolved.network.mode === "disabled")
    throw new BoxliteError("conflict", `box ${stored.id} has no network (it was created with --network disabled), so none of its ports can be reached`);
  return (await readyBox(home, stored.id, "tunnel")).id;
}

export async function dialPort(home: Home, idOrName: string, port: number): Promise<Socket> {
  checkPort(port);
  const id = await readyForTunnel(home, idOrName);
  return dialBoxPort(boxLayout(home.config, id).netControl, port);
}
