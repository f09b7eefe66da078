-- table chunk, insertSettings and --setting max_insert_threads=4
/* chkit-backfill plan=4c6a93c25b2129cf chunk=1a817f1e03eb3160 token=chkit-16b43db53c39d647bf77b667114ab117 */
INSERT INTO `app`.`events` (`ts`, `v`)
SELECT `ts`, `v`
FROM `app`.`events`
WHERE `ts` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC')
SETTINGS log_comment='backfill', max_insert_threads=4, max_memory_usage=10000000000, async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-16b43db53c39d647bf77b667114ab117';

-- copy chunk
/* chkit-backfill plan=09bf3fc5b6f96c3a chunk=0d4588a0e60d0443 token=chkit-32848a7f5f66056c9e3a3cbe13fcd2df */
INSERT INTO `app`.`events` (`ts`, `v`)
SELECT `ts`, `v`
FROM `app`.`events_old`
WHERE `ts` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC')
SETTINGS log_comment='backfill', max_memory_usage=10000000000, async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-32848a7f5f66056c9e3a3cbe13fcd2df';

-- retry that counted the window empty
/* chkit-backfill plan=4c6a93c25b2129cf chunk=1a817f1e03eb3160 token=chkit-16b43db53c39d647bf77b667114ab117 */
INSERT INTO `app`.`events` (`ts`, `v`)
SELECT `ts`, `v`
FROM `app`.`events`
WHERE `ts` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC')
SETTINGS log_comment='backfill', max_insert_threads=4, max_memory_usage=10000000000, async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=0;

-- window count (before, retry, after)
SELECT count() AS c FROM `app`.`events` WHERE `ts` >= toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC') AND `ts` < toDateTime64('2025-01-02 06:00:00.000', 3, 'UTC') SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1;

-- planning: the data's range
SELECT toString(toDateTime64(min(`ts`), 3, 'UTC')) AS min, toString(toDateTime64(max(`ts`), 3, 'UTC')) AS max, count() AS rows FROM `app`.`events` SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1;

-- inserted rows, embedded engine: parts before
SELECT max(max_block_number) AS c FROM system.parts WHERE database = 'app' AND table = 'events' SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1;

-- inserted rows, embedded engine: parts after
SELECT min_block_number AS b, max_block_number AS e, rows AS r, level AS l FROM system.parts WHERE database = 'app' AND table = 'events' AND max_block_number > 41 SETTINGS enable_parallel_replicas=0, max_parallel_replicas=1;

