// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { corpusTests } from './helpers/mv_corpus.mjs';

corpusTests(['own_where_settings', 'join_dimension', 'array_join', 'reordered_columns', 'where_or']);
