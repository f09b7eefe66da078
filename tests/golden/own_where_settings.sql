-- app.big_buys_mv
/* chkit-backfill plan=cb17fb32dfce7a74 chunk=5641f523397ef6ce token=chkit-55a417c67134d7457274195e6e9014fe */
INSERT INTO `app`.`big_buys` (`ts`, `user_id`, `amount`)
SELECT `ts`, `user_id`, `amount`
FROM (
SELECT ts, user_id, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' AND amount > 10) SETTINGS max_threads = 1
)
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-55a417c67134d7457274195e6e9014fe'
