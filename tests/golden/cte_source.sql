-- app.kind_hourly_mv
/* chkit-backfill plan=50b5025e1a03934f chunk=0ea63abf06d24663 token=chkit-71ac2851e32e0c0e5e8f3d7d95fbcaa9 */
INSERT INTO `app`.`kind_hourly` (`hour`, `kind`, `n`, `total`)
WITH ok AS (SELECT toStartOfHour(ts) AS hour, kind, amount FROM app.events WHERE `ts` >= toDateTime('2025-01-02 00:00:00', 'UTC') AND `ts` < toDateTime('2025-01-02 06:00:00', 'UTC') AND (amount > 5)) SELECT hour, kind, count() AS n, sum(amount) AS total FROM ok GROUP BY hour, kind
SETTINGS async_insert=0, asterisk_include_materialized_columns=0, asterisk_include_alias_columns=0, distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1, insert_deduplicate=1, insert_deduplication_token='chkit-71ac2851e32e0c0e5e8f3d7d95fbcaa9'
