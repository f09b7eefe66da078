-- app.labels_mv
/* chkit-backfill plan=1886a80f24a5b360 chunk=0529b3e9f7b65572 token=chkit-cf212f65941f4b4496258c9d963aff09 */
INSERT INTO `app`.`labels` (`ts`, `label`, `q`)
SELECT ts, /* FROM app.users WHERE */ concat('FROM ', kind, ' -- WHERE (') AS label, 'it''s \'GROUP BY\'' AS q -- FROM app.events
FROM app.events /* JOIN app.events */ WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind != 'UNION ALL SELECT')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-cf212f65941f4b4496258c9d963aff09'
