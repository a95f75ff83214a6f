import { expect, test } from "bun:test";
import { fsdHelper } from "./fsd.ts";

test("fsd's --share escapes ':' and '%' in a path and a file name, which its own ':' separates (host/fsd/args.c decodes them)", () => {
  const helper = fsdHelper("/bin/fsd", "/run/b/fs.sock", [
    { name: "vol0", hostPath: "/srv/a:b%c", readOnly: false },
    { name: "vol1", hostPath: "/etc", readOnly: true, onlyName: "app:1.conf" },
  ]);
  expect(helper.argv).toEqual(["/bin/fsd", "--socket", "/run/b/fs.sock", "--share", "vol0:/srv/a%3Ab%25c", "--share", "vol1:/etc:ro:file=app%3A1.conf"]);
  expect(helper.readyPath).toBe("/run/b/fs.sock");
});
