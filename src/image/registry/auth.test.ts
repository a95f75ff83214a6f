import { expect, test } from "bun:test";
import { basicAuthorization, parseWwwAuthenticate, tokenKey, tokenOf, tokenUrl } from "./auth.ts";

test("a bearer challenge gives its realm, service and scope, with commas inside quotes kept", () => {
  const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"';
  expect(parseWwwAuthenticate(header)).toEqual([
    { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull,push" } },
  ]);
});

test("several challenges in one header are told apart, schemes and names lowercased", () => {
  const header = 'Basic realm="Registry Realm", charset="UTF-8", BEARER Realm="https://a.example/t" , Service=reg';
  expect(parseWwwAuthenticate(header)).toEqual([
    { scheme: "basic", params: { realm: "Registry Realm", charset: "UTF-8" } },
    { scheme: "bearer", params: { realm: "https://a.example/t", service: "reg" } },
  ]);
});

test("escaped quotes, spaces around = and an error param are read like the RFC says", () => {
  const header = 'Bearer realm = "https://x/token", error="insufficient_scope", error_description="say \\"hi\\", twice"';
  expect(parseWwwAuthenticate(header)[0]?.params).toEqual({ realm: "https://x/token", error: "insufficient_scope", error_description: 'say "hi", twice' });
});

test("a bare scheme, a token68 and junk do not throw or loop", () => {
  expect(parseWwwAuthenticate("Basic")).toEqual([{ scheme: "basic", params: {} }]);
  expect(parseWwwAuthenticate("Negotiate abc==, Basic realm=x")).toEqual([
    { scheme: "negotiate", params: { abc: "" } },
    { scheme: "basic", params: { realm: "x" } },
  ]);
  expect(parseWwwAuthenticate("")).toEqual([]);
  expect(parseWwwAuthenticate('=,, "unterminated')).toEqual([{ scheme: "unterminated", params: {} }]);
  expect(parseWwwAuthenticate('Bearer realm="never closed')[0]?.params.realm).toBe("never closed");
});

test("basic credentials are base64 of user:password in UTF-8", () => {
  expect(basicAuthorization({ username: "user", password: "pa:ss" })).toBe(`Basic ${btoa("user:pa:ss")}`);
  expect(basicAuthorization({ username: "ü", password: "p" })).toBe(`Basic ${Buffer.from("ü:p").toString("base64")}`);
});

test("the token URL keeps the realm's own query and adds service and scope", () => {
  const url = tokenUrl({ scheme: "bearer", params: { realm: "https://auth.example/token?client=x", service: "reg.example" } }, "repository:a/b:pull");
  expect(url?.href).toBe("https://auth.example/token?client=x&service=reg.example&scope=repository%3Aa%2Fb%3Apull");
  expect(tokenUrl({ scheme: "bearer", params: { realm: "file:///etc/passwd" } }, "s")).toBeUndefined();
  expect(tokenUrl({ scheme: "bearer", params: {} }, "s")).toBeUndefined();
});

test("tokens are keyed by realm, service and scope", () => {
  const challenge = { scheme: "bearer", params: { realm: "https://a/t", service: "s" } };
  expect(tokenKey(challenge, "repository:x:pull")).not.toBe(tokenKey(challenge, "repository:y:pull"));
  expect(tokenKey(challenge, "repository:x:pull")).not.toBe(
    tokenKey({ scheme: "bearer", params: { realm: "https://a/t", service: "other" } }, "repository:x:pull"),
  );
  expect(tokenKey(challenge, "repository:x:pull")).toBe(tokenKey({ ...challenge }, "repository:x:pull"));
});

test("the token comes from token, else access_token", () => {
  expect(tokenOf({ token: "t1", access_token: "t2" })).toBe("t1");
  expect(tokenOf({ access_token: "t2" })).toBe("t2");
  expect(tokenOf({ token: "" })).toBeUndefined();
  expect(tokenOf("t")).toBeUndefined();
  expect(tokenOf(null)).toBeUndefined();
});
