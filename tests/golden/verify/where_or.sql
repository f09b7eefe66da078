-- whole window
SELECT uniqExact(tuple(`ts`, `user_id`)) AS __chkit_k FROM (
SELECT CAST(`ts`, 'DateTime') AS `ts`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind` FROM (
SELECT ts, user_id, kind FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' -- buyers
  OR amount > 40)
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`ts`, `user_id`, `kind`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`ts`, `user_id`, `kind`)))))) AS __chkit_h2 FROM (SELECT CAST(`ts`, 'DateTime') AS `ts`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind` FROM (
SELECT ts, user_id, kind FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' -- buyers
  OR amount > 40)
))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`ts`, `user_id`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`ts`, 'DateTime') AS `ts`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind` FROM (
SELECT ts, user_id, kind FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' -- buyers
  OR amount > 40)
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`ts`, `user_id`, `kind`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`ts`, `user_id`, `kind`)))))) AS __chkit_h2 FROM (SELECT `ts`, `user_id`, `kind` FROM `app`.`picked` WHERE tuple(`ts`, `user_id`) IN (SELECT tuple(`ts`, `user_id`) FROM (SELECT CAST(`ts`, 'DateTime') AS `ts`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind` FROM (
SELECT ts, user_id, kind FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' -- buyers
  OR amount > 40)
))))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
