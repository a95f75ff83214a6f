/**
 * Pull progress on stderr: on a terminal, one bar per layer redrawn in place (bytes and
 * rate); otherwise plain lines, one per event worth keeping in a log.
 */
import type { PullEvent } from "../image/pull.ts";
import { err } from "./output.ts";

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

interface LayerState {
  digest: string;
  size: number;
  bytes: number;
  startedAt: number;
  done: boolean;
  cached: boolean;
}

function barLine(layer: LayerState, now: number): string {
  const fraction = layer.size > 0 ? Math.min(1, layer.bytes / layer.size) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${"=".repeat(filled)}${" ".repeat(BAR_WIDTH - filled)}]`;
  if (layer.cached) return `${short(layer.digest)}  already present (${formatBytes(layer.size)})`;
  if (layer.done) return `${short(layer.digest)}  ${bar} ${formatBytes(layer.size)} done`;
  const seconds = Math.max(0.001, (now - layer.startedAt) / 1000);
  return `${short(layer.digest)}  ${bar} ${formatBytes(layer.bytes)} / ${formatBytes(layer.size)}  ${formatBytes(layer.bytes / seconds)}/s`;
}

/** A handler for pull events that draws bars when stderr is a terminal, else plain lines. */
export function pullProgress(options: { tty?: boolean; write?: (text: string) => void } = {}): (event: PullEvent) => void {
  const tty = options.tty ?? Boolean(process.stderr.isTTY);
  const write = options.write ?? ((text: string) => void err(text));
  const layers = new Map<string, LayerState>();
  let drawnLines = 0;
  let lastDraw = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDraw < REDRAW_MS) return;
    lastDraw = now;
    const lines = [...layers.values()].map((layer) => `\r\u001b[2K${barLine(layer, now)}\n`);
    write(`${drawnLines > 0 ? `\u001b[${drawnLines}A` : ""}${lines.join("")}`);
    drawnLines = lines.length;
  };
  return (event) => {
    if (event.type === "resolved") {
      const total = event.layers.reduce((sum, layer) => sum + layer.size, 0);
      write(`Pulling ${event.reference} (${event.layers.length} layers, ${formatBytes(total)})\n`);
      for (const layer of event.layers) {
        layers.set(layer.digest, {
          digest: layer.digest,
          size: layer.size,
          bytes: layer.cached ? layer.size : 0,
          startedAt: Date.now(),
          done: layer.cached,
          cached: layer.cached,
        });
      }
      if (tty) draw(true);
      return;
    }
    const layer = layers.get(event.digest);
    if (!layer) return;
    if (event.type === "progress") {
      layer.bytes = event.bytes;
      if (tty) draw(false);
      return;
    }
    layer.done = true;
    layer.bytes = layer.size;
    if (tty) draw(true);
    else if (!layer.cached) write(`${short(layer.digest)}: ${formatBytes(layer.size)} downloaded\n`);
  };
}
