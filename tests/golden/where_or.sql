-- app.picked_mv
/* chkit-backfill plan=8f76c1eafb3c5b2f chunk=63e224d103747c34 token=chkit-1242f0bc0ffe490a9e66954e3b39af2e */
INSERT INTO `app`.`picked` (`ts`, `user_id`, `kind`)
SELECT ts, user_id, kind FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (kind = 'buy' -- buyers
  OR amount > 40)
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-1242f0bc0ffe490a9e66954e3b39af2e'
