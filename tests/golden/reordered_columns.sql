-- app.reordered_mv
/* chkit-backfill plan=803f780a83071b89 chunk=bac0524f1fa54159 token=chkit-d2874a4e1bcf49dcdde537d9199d280f */
INSERT INTO `app`.`reordered` (`c`, `ts`, `a`, `b`)
SELECT amount * 2 AS c, ts, user_id AS a, kind AS b FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-d2874a4e1bcf49dcdde537d9199d280f'
