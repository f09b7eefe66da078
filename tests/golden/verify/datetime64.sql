-- whole window
SELECT uniqExact(tuple(`at`, `sensor`)) AS __chkit_k FROM (
SELECT CAST(`at`, 'DateTime64(3, \'UTC\')') AS `at`, CAST(`sensor`, 'UInt32') AS `sensor`, CAST(`reading`, 'Int64') AS `reading` FROM (
SELECT at, sensor, reading FROM app.ticks WHERE `at` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `at` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') AND (reading >= 0)
)
)
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
-- chunk 1
SELECT v.__chkit_c AS vc, v.__chkit_h1 AS vh1, v.__chkit_h2 AS vh2, k.__chkit_k AS vk, k.__chkit_n AS vn, t.__chkit_c AS tc, t.__chkit_h1 AS th1, t.__chkit_h2 AS th2 FROM
(SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`at`, `sensor`, `reading`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`at`, `sensor`, `reading`)))))) AS __chkit_h2 FROM (SELECT CAST(`at`, 'DateTime64(3, \'UTC\')') AS `at`, CAST(`sensor`, 'UInt32') AS `sensor`, CAST(`reading`, 'Int64') AS `reading` FROM (
SELECT at, sensor, reading FROM app.ticks WHERE `at` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `at` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') AND (reading >= 0)
))) AS v
CROSS JOIN (SELECT uniqExact(tuple(`at`, `sensor`)) AS __chkit_k, count() AS __chkit_n FROM (SELECT CAST(`at`, 'DateTime64(3, \'UTC\')') AS `at`, CAST(`sensor`, 'UInt32') AS `sensor`, CAST(`reading`, 'Int64') AS `reading` FROM (
SELECT at, sensor, reading FROM app.ticks WHERE `at` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `at` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') AND (reading >= 0)
))) AS k
CROSS JOIN (SELECT count() AS __chkit_c, toString(sum(toUInt128(cityHash64(tuple(`at`, `sensor`, `reading`))))) AS __chkit_h1, concat('x', toString(sum(toUInt128(xxHash64(tuple(`at`, `sensor`, `reading`)))))) AS __chkit_h2 FROM (SELECT `at`, `sensor`, `reading` FROM `app`.`tick_copy` WHERE tuple(`at`, `sensor`) IN (SELECT tuple(`at`, `sensor`) FROM (SELECT CAST(`at`, 'DateTime64(3, \'UTC\')') AS `at`, CAST(`sensor`, 'UInt32') AS `sensor`, CAST(`reading`, 'Int64') AS `reading` FROM (
SELECT at, sensor, reading FROM app.ticks WHERE `at` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `at` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') AND (reading >= 0)
))))) AS t
SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1
