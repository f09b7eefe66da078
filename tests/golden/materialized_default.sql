-- app.enriched_mv
/* chkit-backfill plan=bcfc3c6d6c7e2f91 chunk=7b5c3787c6e4c962 token=chkit-8f04c72304f3120081a57398dd6b0cb9 */
INSERT INTO `app`.`enriched` (`ts`, `user_id`, `amount`, `tripled`)
SELECT ts, user_id, amount, tripled FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC')
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-8f04c72304f3120081a57398dd6b0cb9'
