import { expect, test } from "bun:test";
import { describeHelperExit, parseReport, readLines, watchArgs } from "./watch-protocol.ts";

test("each helper's argv is counted, so an argument like -- or --helper passes through as given", () => {
  const helper = { name: "net", argv: ["net-helper", "--", "--helper", "x"], readyPath: "/s/net.sock", readyTimeoutMs: 5000 };
  expect(watchArgs(3, [helper], ["qemu", "-m", "256"])).toEqual([
    "3",
    "--helper",
    "net",
    "/s/net.sock",
    "5000",
    "4",
    "net-helper",
    "--",
    "--helper",
    "x",
    "--",
    "qemu",
    "-m",
    "256",
  ]);
  expect(watchArgs(3, [], ["qemu"])).toEqual(["3", "--", "qemu"]);
});

test("reports are parsed, and a line this build does not know is an internal error naming it", () => {
  expect(parseReport("started net 4242 987654")).toEqual({ kind: "started", name: "net", pid: 4242, startTime: "987654" });
  expect(parseReport("exited net 4242 signal 9")).toEqual({ kind: "exited", name: "net", pid: 4242, how: "signal", value: 9 });
  expect(() => parseReport("started net 4242")).toThrow('the VMM watchdog reported "started net 4242", which this boxlite does not understand');
});

test("a helper's end is told in words", () => {
  expect(describeHelperExit({ kind: "exited", name: "net", pid: 7, how: "code", value: 1 })).toBe(
    "helper net (pid 7) exited with status 1; the VM was stopped",
  );
  expect(describeHelperExit({ kind: "exited", name: "fs", pid: 8, how: "signal", value: 11 })).toBe(
    "helper fs (pid 8) was killed by signal 11 (SIGSEGV); the VM was stopped",
  );
});

test("lines split across chunks are put back together", async () => {
  const chunks = ["star", "ted a 1 2\nstarted b", " 3 4\nexit", "ed b 3 code 0"].map((text) => new TextEncoder().encode(text));
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const lines: string[] = [];
  for await (const line of readLines(stream)) lines.push(line);
  expect(lines).toEqual(["started a 1 2", "started b 3 4", "exited b 3 code 0"]);
});
