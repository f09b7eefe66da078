-- app.amount_sides_mv
/* chkit-backfill plan=35a8c0b277aea0ef chunk=15449cc5226b8bdf token=chkit-30ec9f740c88bc5dd44af0d5c87b6401 */
INSERT INTO `app`.`amount_sides` (`ts`, `user_id`, `side`, `amount`)
WITH big AS (SELECT ts, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount >= 25)) SELECT ts, user_id, side, amount FROM (SELECT ts, user_id, 'low' AS side, amount FROM big WHERE amount < 40 UNION ALL SELECT ts, user_id, 'high' AS side, amount FROM big WHERE amount >= 40)
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-30ec9f740c88bc5dd44af0d5c87b6401'
