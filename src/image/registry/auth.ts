/**
 * Registry authentication pieces: the `WWW-Authenticate` challenge parser (RFC 7235 §4.1,
 * with quoted strings and several challenges in one header), Basic credentials, and the
 * token request of the distribution token spec (docs/spec/auth/token.md): GET the realm
 * with `service` and `scope`, answer `{token}` or `{access_token}`.
 */

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** Lowercased: `basic`, `bearer`, … */
  scheme: string;
  /** Parameter names lowercased, values unquoted. */
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

// RFC 7230 §3.2.6 tchar.
const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses every challenge in a `WWW-Authenticate` value, e.g.
 * `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push", Basic realm="x"`.
 * Malformed parts are skipped rather than thrown: the header comes from the server.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let pos = 0;
  const skip = (chars: string) => {
    while (pos < header.length && chars.includes(header[pos] as string)) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < header.length && TOKEN_CHAR.test(header[pos] as string)) pos++;
    return header.slice(start, pos);
  };
  const quoted = (): string => {
    let value = "";
    pos++; // opening quote
    while (pos < header.length && header[pos] !== '"') {
      // quoted-pair: a backslash escapes the next character.
      if (header[pos] === "\\" && pos + 1 < header.length) pos++;
      value += header[pos];
      pos++;
    }
    pos++; // closing quote
    return value;
  };
  while (pos < header.length) {
    skip(" \t,");
    const scheme = token();
    if (scheme === "") {
      pos++; // not a token character: skip it and look for the next challenge
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    while (pos < header.length) {
      skip(" \t,");
      if (pos >= header.length) break;
      const start = pos;
      const name = token();
      skip(" \t");
      if (name !== "" && header[pos] === "=") {
        pos++;
        skip(" \t");
        challenge.params[name.toLowerCase()] = header[pos] === '"' ? quoted() : token();
        continue;
      }
      if (name !== "") {
        // A token without "=" is the next challenge's scheme: let the outer loop read it.
        pos = start;
        break;
      }
      pos++; // a stray character (a token68's "=" padding, a lone quote): skip it
    }
  }
  return challenges;
}

/** The `Authorization` value for HTTP Basic (RFC 7617, UTF-8). */
export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}

/** The token service URL for a bearer challenge and a scope; undefined when the realm is not an http(s) URL. */
export function tokenUrl(challenge: AuthChallenge, scope: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(challenge.params.realm ?? "");
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  url.searchParams.set("scope", scope);
  return url;
}

/** The cache key of a token: one per (realm, service, scope). */
export function tokenKey(challenge: AuthChallenge, scope: string): string {
  return JSON.stringify([challenge.params.realm ?? "", challenge.params.service ?? "", scope]);
}

/** The token in a token service answer (`token`, or OAuth2's `access_token`), else undefined. */
export function tokenOf(body: unknown): string | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const { token, access_token: accessToken } = body as Record<string, unknown>;
  if (typeof token === "string" && token !== "") return token;
  if (typeof accessToken === "string" && accessToken !== "") return accessToken;
  return undefined;
}
