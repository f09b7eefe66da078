-- whole window
SELECT uniqExact(tuple(`event_time`, `user_id`, `kind`)) AS __chkit_k FROM (
SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `app`.`events`.`event_time`, app.events.user_id + 1000 AS user_id, 'qualified' AS kind, app.events.amount FROM app.events WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (app.events.kind = 'buy')
)
UNION ALL
SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `e`.event_time AS event_time, `e`.`user_id` AS user_id, `e`.kind AS kind, e.amount AS amount FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`events` WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` WHERE `e`.amount > 3
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`event_time`, `user_id`, `kind`, `amount`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`event_time`, `user_id`, `kind`, `amount`)))))) AS __chkit_h2 FROM (SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `app`.`events`.`event_time`, app.events.user_id + 1000 AS user_id, 'qualified' AS kind, app.events.amount FROM app.events WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (app.events.kind = 'buy')
)
UNION ALL
SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `e`.event_time AS event_time, `e`.`user_id` AS user_id, `e`.kind AS kind, e.amount AS amount FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`events` WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` WHERE `e`.amount > 3
))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`event_time`, `user_id`, `kind`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `app`.`events`.`event_time`, app.events.user_id + 1000 AS user_id, 'qualified' AS kind, app.events.amount FROM app.events WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (app.events.kind = 'buy')
)
UNION ALL
SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `e`.event_time AS event_time, `e`.`user_id` AS user_id, `e`.kind AS kind, e.amount AS amount FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`events` WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` WHERE `e`.amount > 3
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`event_time`, `user_id`, `kind`, `amount`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`event_time`, `user_id`, `kind`, `amount`)))))) AS __chkit_h2 FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`user_events` WHERE tuple(`event_time`, `user_id`, `kind`) IN (SELECT tuple(`event_time`, `user_id`, `kind`) FROM (SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `app`.`events`.`event_time`, app.events.user_id + 1000 AS user_id, 'qualified' AS kind, app.events.amount FROM app.events WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (app.events.kind = 'buy')
)
UNION ALL
SELECT CAST(`event_time`, 'DateTime') AS `event_time`, CAST(`user_id`, 'UInt64') AS `user_id`, CAST(`kind`, 'String') AS `kind`, CAST(`amount`, 'UInt64') AS `amount` FROM (
SELECT `e`.event_time AS event_time, `e`.`user_id` AS user_id, `e`.kind AS kind, e.amount AS amount FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`events` WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` WHERE `e`.amount > 3
))))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
