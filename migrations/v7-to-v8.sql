-- v7 → v8: NetworkSpec::Isolated became NetworkSpec::Enabled { allow_net: [] }. The
-- blobs are serde's compact JSON, so a textual rewrite is exact (the reference does
-- the same); it never fails on a blob it cannot parse.
UPDATE box_config
SET json = REPLACE(json, '"network":"Isolated"', '"network":{"Enabled":{"allow_net":[]}}')
WHERE json LIKE '%"network":"Isolated"%';
