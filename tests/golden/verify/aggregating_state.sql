-- whole window
SELECT uniqExact(tuple(`day`)) AS __chkit_k FROM (
SELECT CAST(`day`, 'Date') AS `day`, CAST(`users`, 'AggregateFunction(uniqExact, UInt64)') AS `users`, CAST(`median`, 'AggregateFunction(quantileExact(0.5), UInt64)') AS `median`, CAST(`total`, 'AggregateFunction(sum, UInt64)') AS `total` FROM (
SELECT toDate(ts) AS day, uniqExactState(user_id) AS users, quantileExactState(0.5)(amount) AS median, sumState(amount) AS total FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY day
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`day`, `users`, `median`, `total`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`day`, `users`, `median`, `total`)))))) AS __chkit_h2 FROM (SELECT `day`, uniqExactMerge(`users`) AS `users`, quantileExactMerge(0.5)(`median`) AS `median`, sumMerge(`total`) AS `total` FROM (SELECT CAST(`day`, 'Date') AS `day`, CAST(`users`, 'AggregateFunction(uniqExact, UInt64)') AS `users`, CAST(`median`, 'AggregateFunction(quantileExact(0.5), UInt64)') AS `median`, CAST(`total`, 'AggregateFunction(sum, UInt64)') AS `total` FROM (
SELECT toDate(ts) AS day, uniqExactState(user_id) AS users, quantileExactState(0.5)(amount) AS median, sumState(amount) AS total FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY day
)) GROUP BY `day`)) AS v
CROSS JOIN (SELECT uniqExact(tuple(`day`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`day`, 'Date') AS `day`, CAST(`users`, 'AggregateFunction(uniqExact, UInt64)') AS `users`, CAST(`median`, 'AggregateFunction(quantileExact(0.5), UInt64)') AS `median`, CAST(`total`, 'AggregateFunction(sum, UInt64)') AS `total` FROM (
SELECT toDate(ts) AS day, uniqExactState(user_id) AS users, quantileExactState(0.5)(amount) AS median, sumState(amount) AS total FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY day
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`day`, `users`, `median`, `total`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`day`, `users`, `median`, `total`)))))) AS __chkit_h2 FROM (SELECT `day`, uniqExactMerge(`users`) AS `users`, quantileExactMerge(0.5)(`median`) AS `median`, sumMerge(`total`) AS `total` FROM (SELECT `day`, `users`, `median`, `total` FROM `app`.`daily` WHERE tuple(`day`) IN (SELECT tuple(`day`) FROM (SELECT CAST(`day`, 'Date') AS `day`, CAST(`users`, 'AggregateFunction(uniqExact, UInt64)') AS `users`, CAST(`median`, 'AggregateFunction(quantileExact(0.5), UInt64)') AS `median`, CAST(`total`, 'AggregateFunction(sum, UInt64)') AS `total` FROM (
SELECT toDate(ts) AS day, uniqExactState(user_id) AS users, quantileExactState(0.5)(amount) AS median, sumState(amount) AS total FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY day
)))) GROUP BY `day`)) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
