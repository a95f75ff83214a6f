/**
 * Writes an archive and dies by SIGKILL at one named point: a real crash (no unwinding, no
 * finally, zstd left to finish on its own), for archive-crash.test.ts.
 * Usage: archive-crash-child.test-helper.ts <dest> <container disk> <guest disk> <point>
 */
import { writeArchive } from "./archive-write.ts";

const [dest, container, guest, target] = process.argv.slice(2);
if (dest === undefined || container === undefined || guest === undefined || target === undefined) throw new Error("usage: <dest> <container> <guest> <point>");
await writeArchive({
  dest,
  image: "alpine:latest",
  boxOptions: { cpus: 1 },
  disks: { container, guest },
  hooks: {
    point(name) {
      if (name === target) process.kill(process.pid, "SIGKILL");
    },
  },
});
// Reaching this line means the point was never hit: the parent checks the signal.
process.exit(3);
