import { expect, test } from "bun:test";
import { formatColumns } from "./output.ts";

test("formatColumns pads each column to its widest cell plus three spaces, and no line ends in blanks", () => {
  const table = formatColumns(
    ["ID", "IMAGE", "NAMES"],
    [
      ["a1", "alpine:latest", "web"],
      ["b22222", "busybox", ""],
      ["c3", "", ""],
    ],
  );
  expect(table).toBe(["ID       IMAGE           NAMES", "a1       alpine:latest   web", "b22222   busybox", "c3", ""].join("\n"));
});

test("formatColumns of no rows is the header alone", () => {
  expect(formatColumns(["ID", "STATUS"], [])).toBe("ID   STATUS\n");
});
