-- app.user_events_buys_mv
/* chkit-backfill plan=365eb65ce284de31 chunk=923ff95632dd29cd token=chkit-ba576491d6ad478bb5c6a007096e2eed */
INSERT INTO `app`.`user_events` (`event_time`, `user_id`, `kind`, `amount`)
SELECT `app`.`events`.`event_time`, app.events.user_id + 1000 AS user_id, 'qualified' AS kind, app.events.amount FROM app.events WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (app.events.kind = 'buy')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-ba576491d6ad478bb5c6a007096e2eed'
-- app.user_events_mv
/* chkit-backfill plan=365eb65ce284de31 chunk=923ff95632dd29cd token=chkit-c95e7eab970d31c67cacc3a5c614cf47 */
INSERT INTO `app`.`user_events` (`event_time`, `user_id`, `kind`, `amount`)
SELECT `e`.event_time AS event_time, `e`.`user_id` AS user_id, `e`.kind AS kind, e.amount AS amount FROM (SELECT `event_time`, `user_id`, `kind`, `amount` FROM `app`.`events` WHERE `event_time` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `event_time` < toDateTime('2025-01-02 06:00:00', 'UTC')) AS `e` WHERE `e`.amount > 3
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-c95e7eab970d31c67cacc3a5c614cf47'
