/** The network tunnel on the wire (the contract's prepareTunnel and TunnelDescriptor). */
import { Type } from "@sinclair/typebox";

export const TunnelQuery = Type.Object(
  { port: Type.Integer({ minimum: 1, maximum: 65535, description: "The TCP port the service listens on in the box" }) },
  { additionalProperties: false },
);

export const TunnelDescriptor = Type.Object({
  uri: Type.String({
    format: "uri",
    description: "http://HOST:PORT of a listener of this server: send HTTP/1.1 CONNECT for a raw TCP stream, or a plain HTTP request for the service itself",
  }),
});
