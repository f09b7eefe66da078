-- app.tick_copy_mv
/* chkit-backfill plan=ab1853623c99c09f chunk=a347588ea04654f5 token=chkit-db84eceb15abfcde89d9f64c6eae5613 */
INSERT INTO `app`.`tick_copy` (`at`, `sensor`, `reading`)
SELECT at, sensor, reading FROM app.ticks WHERE `at` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `at` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') AND (reading >= 0)
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-db84eceb15abfcde89d9f64c6eae5613'
