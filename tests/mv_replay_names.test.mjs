// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { test, after } from 'node:test';
import { createProject } from './helpers/project.mjs';
import { roundTrip } from './helpers/mv_corpus.mjs';

const p = createProject({ options: {} });
after(p.cleanup);

test('comments_strings: replay equals the live view', async () => {
  await roundTrip(p, 'comments_strings');
});

test('backticks: replay equals the live view', async () => {
  await roundTrip(p, 'backticks');
});

test('materialized_default: replay equals the live view', async () => {
  await roundTrip(p, 'materialized_default');
});

test('datetime64: replay equals the live view', async () => {
  await roundTrip(p, 'datetime64');
});
