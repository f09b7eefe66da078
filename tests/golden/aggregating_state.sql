-- app.daily_mv
/* chkit-backfill plan=812eb21da622b831 chunk=9c16f07cf1e3d669 token=chkit-dc304139cfc71410e7f4e2cc8351c7ba */
INSERT INTO `app`.`daily` (`day`, `users`, `median`, `total`)
SELECT toDate(ts) AS day, uniqExactState(user_id) AS users, quantileExactState(0.5)(amount) AS median, sumState(amount) AS total FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') GROUP BY day
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-dc304139cfc71410e7f4e2cc8351c7ba'
