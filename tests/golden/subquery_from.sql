-- app.hourly_users_mv
/* chkit-backfill plan=0455ec596e8966f8 chunk=283ac6566b62365f token=chkit-9fda2cdf565c04a44a9eaf493f86dc2e */
INSERT INTO `app`.`hourly_users` (`hour`, `n`, `big`)
SELECT hour, count() AS n, countIf(amount > 40) AS big FROM (SELECT toStartOfHour(ts) AS hour, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) AS inner_rows GROUP BY hour
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-9fda2cdf565c04a44a9eaf493f86dc2e'
