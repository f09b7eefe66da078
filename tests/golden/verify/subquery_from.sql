-- whole window
SELECT uniqExact(tuple(`hour`)) AS __chkit_k FROM (
SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`n`, 'UInt64') AS `n`, CAST(`big`, 'UInt64') AS `big` FROM (
SELECT hour, count() AS n, countIf(amount > 40) AS big FROM (SELECT toStartOfHour(ts) AS hour, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) AS inner_rows GROUP BY hour
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `n`, `big`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `n`, `big`)))))) AS __chkit_h2 FROM (SELECT `hour`, sum(`n`) AS `n`, sum(`big`) AS `big` FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`n`, 'UInt64') AS `n`, CAST(`big`, 'UInt64') AS `big` FROM (
SELECT hour, count() AS n, countIf(amount > 40) AS big FROM (SELECT toStartOfHour(ts) AS hour, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) AS inner_rows GROUP BY hour
)) GROUP BY `hour` HAVING NOT (`n` = 0 AND `big` = 0))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`hour`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`n`, 'UInt64') AS `n`, CAST(`big`, 'UInt64') AS `big` FROM (
SELECT hour, count() AS n, countIf(amount > 40) AS big FROM (SELECT toStartOfHour(ts) AS hour, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) AS inner_rows GROUP BY hour
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`hour`, `n`, `big`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`hour`, `n`, `big`)))))) AS __chkit_h2 FROM (SELECT `hour`, sum(`n`) AS `n`, sum(`big`) AS `big` FROM (SELECT `hour`, `n`, `big` FROM `app`.`hourly_users` WHERE tuple(`hour`) IN (SELECT tuple(`hour`) FROM (SELECT CAST(`hour`, 'DateTime') AS `hour`, CAST(`n`, 'UInt64') AS `n`, CAST(`big`, 'UInt64') AS `big` FROM (
SELECT hour, count() AS n, countIf(amount > 40) AS big FROM (SELECT toStartOfHour(ts) AS hour, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) AS inner_rows GROUP BY hour
)))) GROUP BY `hour` HAVING NOT (`n` = 0 AND `big` = 0))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
