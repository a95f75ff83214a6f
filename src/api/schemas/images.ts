/** Cached images on the wire (the contract's ImageInfo, PullImageRequest, ListImagesResponse). */
import { Type } from "@sinclair/typebox";

export const ImageInfo = Type.Object({
  reference: Type.String({ description: "Full reference, e.g. docker.io/library/alpine:3.20" }),
  repository: Type.String(),
  tag: Type.String(),
  id: Type.String({ description: "The manifest digest" }),
  cached_at: Type.String({ format: "date-time" }),
  size_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "Bytes of its layers as stored" }),
});

export const PullImageRequest = Type.Object(
  { reference: Type.String({ minLength: 1, maxLength: 1024, description: "Image reference to pull, e.g. alpine:3.20" }) },
  { additionalProperties: false },
);

export const ListImagesQuery = Type.Object(
  { pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), pageToken: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);

export const ListImagesResponse = Type.Object({
  images: Type.Array(ImageInfo),
  next_page_token: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
