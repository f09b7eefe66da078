-- app.activity_buys_mv
/* chkit-backfill plan=a81747df0875717c chunk=11c6e5a657d9584f token=chkit-560458617ea0334bffc2187536656b34 */
INSERT INTO `app`.`activity` (`ts`, `user_id`, `what`, `amount`)
SELECT ts, user_id, 'buy' AS what, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-560458617ea0334bffc2187536656b34'
-- app.activity_views_mv
/* chkit-backfill plan=a81747df0875717c chunk=11c6e5a657d9584f token=chkit-cbc4b0b332bd7d95863f235e77468a5e */
INSERT INTO `app`.`activity` (`ts`, `user_id`, `what`, `amount`)
SELECT ts, user_id, 'view' AS what, 0 AS amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'view')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-cbc4b0b332bd7d95863f235e77468a5e'
