import { expect, test } from "bun:test";
import { formatBytes, pullProgress } from "./progress.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

function feed(tty: boolean): string {
  let text = "";
  const progress = pullProgress({ tty, write: (chunk) => (text += chunk) });
  progress({
    type: "resolved",
    reference: "r.example/app:1",
    manifestDigest: B,
    layers: [
      { digest: A, size: 2_000_000, cached: false },
      { digest: B, size: 500, cached: true },
    ],
  });
  progress({ type: "progress", digest: A, bytes: 1_000_000, size: 2_000_000 });
  progress({ type: "layer-done", digest: A });
  return text;
}

test("plain output: one line for the image and one per downloaded layer", () => {
  expect(feed(false)).toBe("Pulling r.example/app:1 (2 layers, 2.0 MB)\naaaaaaaaaaaa: 2.0 MB downloaded\n");
});

test("on a terminal: a bar per layer, redrawn in place", () => {
  const text = feed(true);
  expect(text).toStartWith("Pulling r.example/app:1 (2 layers, 2.0 MB)\n");
  expect(text).toContain("bbbbbbbbbbbb  already present (500 B)");
  expect(text).toContain(`aaaaaaaaaaaa  [${"=".repeat(24)}] 2.0 MB done`);
  // Each redraw moves the cursor back up over the two bars.
  expect(text).toContain("\u001b[2A");
});

test("bytes are shown in decimal units", () => {
  expect([formatBytes(999), formatBytes(1000), formatBytes(52_428_800)]).toEqual(["999 B", "1.0 KB", "52.4 MB"]);
});
