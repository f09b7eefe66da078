// The quickstart's tables as chkit definitions.
import { materializedView, schema, table } from '@chkit/core';

export const events = table({
  database: 'app',
  name: 'events',
  columns: [
    { name: 'event_time', type: 'DateTime' },
    { name: 'user_id', type: 'UInt64' },
    { name: 'kind', type: 'LowCardinality(String)' },
    { name: 'amount', type: 'Decimal(12, 2)' },
  ],
  engine: 'MergeTree',
  primaryKey: ['event_time', 'user_id'],
  orderBy: ['event_time', 'user_id'],
  settings: { non_replicated_deduplication_window: 1000 },
  plugins: { backfill: { timeColumn: 'event_time' } },
});

export const eventsHourly = table({
  database: 'app',
  name: 'events_hourly',
  columns: [
    { name: 'hour', type: 'DateTime' },
    { name: 'kind', type: 'LowCardinality(String)' },
    { name: 'events', type: 'UInt64' },
    { name: 'revenue', type: 'Decimal(38, 2)' },
  ],
  engine: 'SummingMergeTree',
  primaryKey: ['hour', 'kind'],
  orderBy: ['hour', 'kind'],
  settings: { non_replicated_deduplication_window: 1000 },
});

export const eventsHourlyMv = materializedView({
  database: 'app',
  name: 'events_hourly_mv',
  to: { database: 'app', name: 'events_hourly' },
  as: `SELECT toStartOfHour(event_time) AS hour, kind, count() AS events, sum(amount) AS revenue
FROM app.events
GROUP BY hour, kind`,
});

export default schema(events, eventsHourly, eventsHourlyMv);
