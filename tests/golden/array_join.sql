-- app.tag_hits_mv
/* chkit-backfill plan=c6bb7930d7de2561 chunk=aaf7060a0b9ae12b token=chkit-6ede5fb5bcc1a51209a43bd8054ed468 */
INSERT INTO `app`.`tag_hits` (`ts`, `tag`, `user_id`)
SELECT ts, arrayJoin(tags) AS tag, user_id FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-6ede5fb5bcc1a51209a43bd8054ed468'
