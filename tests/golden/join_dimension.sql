-- app.by_country_mv
/* chkit-backfill plan=f30098e73f2b7ab0 chunk=67632aecc79d30ba token=chkit-864d69a6fcdb8728f3bf95ea820767de */
INSERT INTO `app`.`by_country` (`ts`, `user_id`, `country`)
SELECT e.ts AS ts, e.user_id AS user_id, u.country AS country FROM (SELECT `ts`, `user_id`, `kind`, `amount`, `tags` FROM `app`.`events` WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` INNER JOIN app.users AS u ON u.id = e.user_id WHERE u.country != ''
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-864d69a6fcdb8728f3bf95ea820767de'
