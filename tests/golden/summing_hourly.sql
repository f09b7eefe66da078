-- app.hourly_mv
/* chkit-backfill plan=0f897d836881aa17 chunk=ecef76ea9a8dceae token=chkit-d141907525feebcd016d5905f9e82a0e */
INSERT INTO `app`.`hourly` (`hour`, `kind`, `events`, `amount`)
SELECT toStartOfHour(ts) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY hour, kind
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-d141907525feebcd016d5905f9e82a0e'
