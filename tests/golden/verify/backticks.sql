-- whole window
SELECT uniqExact(tuple(`event time`, `user-id`)) AS __chkit_k FROM (
SELECT CAST(`event time`, 'DateTime') AS `event time`, CAST(`user-id`, 'UInt64') AS `user-id`, CAST(`from`, 'String') AS `from` FROM (
SELECT `r`.`event time` AS `event time`, `user-id`, upper(`select`) AS `from` FROM (SELECT `event time`, `user-id`, `select` FROM `app`.`raw events` WHERE `event time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `r`
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`event time`, `user-id`, `from`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`event time`, `user-id`, `from`)))))) AS __chkit_h2 FROM (SELECT CAST(`event time`, 'DateTime') AS `event time`, CAST(`user-id`, 'UInt64') AS `user-id`, CAST(`from`, 'String') AS `from` FROM (
SELECT `r`.`event time` AS `event time`, `user-id`, upper(`select`) AS `from` FROM (SELECT `event time`, `user-id`, `select` FROM `app`.`raw events` WHERE `event time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `r`
))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`event time`, `user-id`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`event time`, 'DateTime') AS `event time`, CAST(`user-id`, 'UInt64') AS `user-id`, CAST(`from`, 'String') AS `from` FROM (
SELECT `r`.`event time` AS `event time`, `user-id`, upper(`select`) AS `from` FROM (SELECT `event time`, `user-id`, `select` FROM `app`.`raw events` WHERE `event time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `r`
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`event time`, `user-id`, `from`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`event time`, `user-id`, `from`)))))) AS __chkit_h2 FROM (SELECT `event time`, `user-id`, `from` FROM `app`.`per user` WHERE tuple(`event time`, `user-id`) IN (SELECT tuple(`event time`, `user-id`) FROM (SELECT CAST(`event time`, 'DateTime') AS `event time`, CAST(`user-id`, 'UInt64') AS `user-id`, CAST(`from`, 'String') AS `from` FROM (
SELECT `r`.`event time` AS `event time`, `user-id`, upper(`select`) AS `from` FROM (SELECT `event time`, `user-id`, `select` FROM `app`.`raw events` WHERE `event time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `r`
))))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
