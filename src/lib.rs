//! Pure core of `@chkit/plugin-backfill`: no I/O, no clock, no JavaScript
//! outside `binding`. The TypeScript shim does the I/O and calls in.

pub mod binding;
pub mod check;
pub mod chunks;
pub mod distributed;
pub mod doctor;
pub mod error;
pub mod fence;
pub mod ids;
pub mod mv_rewrite;
pub mod options;
pub mod outcome;
pub mod plan;
pub mod plan_check;
pub mod plan_file;
pub mod redact;
pub mod run_state;
pub mod settings;
pub mod sql;
pub mod sql_tokens;
pub mod time_column;
pub mod verify;
pub mod volume;
pub mod window;
