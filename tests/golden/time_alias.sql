-- app.shifted_mv
/* chkit-backfill plan=8f33d6cf37f90768 chunk=d4cda75a4fc64f1b token=chkit-0331863f4588e8ce2b71d8223758d823 */
INSERT INTO `app`.`shifted` (`ts`, `user_id`)
SELECT ts + INTERVAL 30 MINUTE AS ts, user_id FROM (SELECT `ts`, `user_id`, `kind`, `amount`, `tags` FROM `app`.`events` WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `events` WHERE kind != 'view'
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-0331863f4588e8ce2b71d8223758d823'
