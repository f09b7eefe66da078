// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { test, after } from 'node:test';
import { createProject } from './helpers/project.mjs';
import { roundTrip } from './helpers/mv_corpus.mjs';

const p = createProject({ options: {} });
after(p.cleanup);

test('own_where_settings: replay equals the live view', async () => {
  await roundTrip(p, 'own_where_settings');
});

test('join_dimension: replay equals the live view', async () => {
  await roundTrip(p, 'join_dimension');
});

test('array_join: replay equals the live view', async () => {
  await roundTrip(p, 'array_join');
});

test('reordered_columns: replay equals the live view', async () => {
  await roundTrip(p, 'reordered_columns');
});
