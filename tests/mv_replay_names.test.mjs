// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { corpusTests } from './helpers/mv_corpus.mjs';

corpusTests(['comments_strings', 'backticks', 'materialized_default', 'datetime64']);
