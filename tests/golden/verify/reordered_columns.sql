-- whole window
SELECT uniqExact(tuple(`ts`)) AS __chkit_k FROM (
SELECT CAST(`c`, 'UInt64') AS `c`, CAST(`ts`, 'DateTime') AS `ts`, CAST(`a`, 'UInt64') AS `a`, CAST(`b`, 'String') AS `b` FROM (
SELECT amount * 2 AS c, ts, user_id AS a, kind AS b FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`ts`, `c`, `a`, `b`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`ts`, `c`, `a`, `b`)))))) AS __chkit_h2 FROM (SELECT CAST(`c`, 'UInt64') AS `c`, CAST(`ts`, 'DateTime') AS `ts`, CAST(`a`, 'UInt64') AS `a`, CAST(`b`, 'String') AS `b` FROM (
SELECT amount * 2 AS c, ts, user_id AS a, kind AS b FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`ts`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`c`, 'UInt64') AS `c`, CAST(`ts`, 'DateTime') AS `ts`, CAST(`a`, 'UInt64') AS `a`, CAST(`b`, 'String') AS `b` FROM (
SELECT amount * 2 AS c, ts, user_id AS a, kind AS b FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`ts`, `c`, `a`, `b`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`ts`, `c`, `a`, `b`)))))) AS __chkit_h2 FROM (SELECT `c`, `ts`, `a`, `b` FROM `app`.`reordered` WHERE tuple(`ts`) IN (SELECT tuple(`ts`) FROM (SELECT CAST(`c`, 'UInt64') AS `c`, CAST(`ts`, 'DateTime') AS `ts`, CAST(`a`, 'UInt64') AS `a`, CAST(`b`, 'String') AS `b` FROM (
SELECT amount * 2 AS c, ts, user_id AS a, kind AS b FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
))))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
