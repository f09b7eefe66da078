-- app.`per user mv`
/* chkit-backfill plan=30e10709674fe8bf chunk=d1fa55528079d8d3 token=chkit-d8de4f8c0f49eb74b22ae5aee4f7c714 */
INSERT INTO `app`.`per user` (`event time`, `user-id`, `from`)
SELECT `r`.`event time` AS `event time`, `user-id`, upper(`select`) AS `from` FROM (SELECT `event time`, `user-id`, `select` FROM `app`.`raw events` WHERE `event time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `r`
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-d8de4f8c0f49eb74b22ae5aee4f7c714'
