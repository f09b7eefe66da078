-- app.hourly_what_mv
/* chkit-backfill plan=4e9bba65eaad078d chunk=6ee636a7594a2abb token=chkit-f91a23e6e7558fe73831029d2f29ed6d */
INSERT INTO `app`.`hourly_what` (`hour`, `what`, `n`)
SELECT `hour`, `what`, `n`
FROM (
SELECT hour, what, count() AS n FROM (SELECT toStartOfHour(ts) AS hour, 'buy' AS what FROM (SELECT `ts`, `user_id`, `kind`, `amount`, `tags` FROM `app`.`events` WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `events` WHERE kind = 'buy' UNION ALL SELECT toStartOfHour(e.ts) AS hour, concat('tag:', tag) AS what FROM (SELECT `ts`, `user_id`, `kind`, `amount`, `tags` FROM `app`.`events` WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` ARRAY JOIN e.tags AS tag) AS branches GROUP BY hour, what
)
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-f91a23e6e7558fe73831029d2f29ed6d'
