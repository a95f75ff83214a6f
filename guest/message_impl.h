/* What message.c and message_config.c share: readers of JSON fields that explain a refusal.
 * Each writes "<what>: <reason>" to why when it fails; not part of the API. */
#ifndef BOXLITE_MESSAGE_IMPL_H
#define BOXLITE_MESSAGE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Parses a payload that must be a JSON object; frees the doc on failure. */
const struct json_value *message_object(struct json_doc *doc, const uint8_t *p, size_t n, const char *what, char *why,
                                        size_t whylen);
/* Reads a required integer field within [min, max]. Returns 0 or -1. */
int message_get_int(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                    int64_t min, int64_t max, int64_t *out, char *why, size_t whylen);
/* Reads an optional field of the given type (a string: without NULs); absent or null sets *out
 * to NULL. Returns 0 or -1. */
int message_get_optional(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                         enum json_type type, const struct json_value **out, char *why, size_t whylen);

#endif
