-- whole window
SELECT uniqExact(tuple(`hour`, `kind`)) AS __chkit_k FROM (
SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`events`, 'UInt64') AS `events`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT toStartOfHour(ts) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY hour, kind
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `kind`, `events`, `amount`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `kind`, `events`, `amount`)))))) AS __chkit_h2 FROM (SELECT `hour`, `kind`, sum(`events`) AS `events`, sum(`amount`) AS `amount` FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`events`, 'UInt64') AS `events`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT toStartOfHour(ts) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY hour, kind
)) GROUP BY `hour`, `kind` HAVING NOT (`events` = 0 AND `amount` = 0))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`hour`, `kind`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`events`, 'UInt64') AS `events`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT toStartOfHour(ts) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY hour, kind
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `kind`, `events`, `amount`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `kind`, `events`, `amount`)))))) AS __chkit_h2 FROM (SELECT `hour`, `kind`, sum(`events`) AS `events`, sum(`amount`) AS `amount` FROM (SELECT `hour`, `kind`, `events`, `amount` FROM `app`.`hourly` WHERE tuple(`hour`, `kind`) IN (SELECT tuple(`hour`, `kind`) FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`kind`, 'String') AS `kind`, CAST(`events`, 'UInt64') AS `events`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT toStartOfHour(ts) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY hour, kind
)))) GROUP BY `hour`, `kind` HAVING NOT (`events` = 0 AND `amount` = 0))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
