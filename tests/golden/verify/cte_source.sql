-- whole window
SELECT uniqExact(tuple(`hour`, `kind`)) AS __chkit_k FROM (
SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`n`, 'UInt64') AS `n`, CAST(`total`, 'UInt64') AS `total` FROM (
WITH ok AS (SELECT toStartOfHour(ts) AS hour, kind, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) SELECT hour, kind, count() AS n, sum(amount) AS total FROM ok GROUP BY hour, kind
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `kind`, `n`, `total`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `kind`, `n`, `total`)))))) AS __chkit_h2 FROM (SELECT `hour`, `kind`, sum(`n`) AS `n`, sum(`total`) AS `total` FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`n`, 'UInt64') AS `n`, CAST(`total`, 'UInt64') AS `total` FROM (
WITH ok AS (SELECT toStartOfHour(ts) AS hour, kind, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) SELECT hour, kind, count() AS n, sum(amount) AS total FROM ok GROUP BY hour, kind
)) GROUP BY `hour`, `kind` HAVING NOT (`n` = 0 AND `total` = 0))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`hour`, `kind`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`n`, 'UInt64') AS `n`, CAST(`total`, 'UInt64') AS `total` FROM (
WITH ok AS (SELECT toStartOfHour(ts) AS hour, kind, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) SELECT hour, kind, count() AS n, sum(amount) AS total FROM ok GROUP BY hour, kind
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `kind`, `n`, `total`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `kind`, `n`, `total`)))))) AS __chkit_h2 FROM (SELECT `hour`, `kind`, sum(`n`) AS `n`, sum(`total`) AS `total` FROM (SELECT `hour`, `kind`, `n`, `total` FROM `app`.`kind_hourly` WHERE tuple(`hour`, `kind`) IN (SELECT tuple(`hour`, `kind`) FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`n`, 'UInt64') AS `n`, CAST(`total`, 'UInt64') AS `total` FROM (
WITH ok AS (SELECT toStartOfHour(ts) AS hour, kind, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) SELECT hour, kind, count() AS n, sum(amount) AS total FROM ok GROUP BY hour, kind
)))) GROUP BY `hour`, `kind` HAVING NOT (`n` = 0 AND `total` = 0))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
