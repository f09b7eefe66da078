//! `Distributed` targets: what the table routes to, and whether a plan can keep
//! exactly-once through it. The shim reads `system.tables.engine_full` and the
//! cluster's rows of `system.clusters`; the decisions are here.

use crate::error::{CoreError, CoreResult};
use crate::plan::Strategy;
use crate::sql_tokens::tokenize;
use serde::{Deserialize, Serialize};

/// What the shim learned about a `Distributed` target.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DistributedInput {
    /// `system.tables.engine_full` of the target.
    pub engine_full: String,
    /// The cluster's shards as `system.clusters` lists them (empty: the server does not know the cluster).
    #[serde(default)]
    pub shards: Vec<ShardInput>,
    /// Engine of the remote table where this server has it (`system.tables`).
    pub remote_engine: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShardInput {
    pub shard_num: u32,
    pub replicas: u32,
    pub internal_replication: bool,
}

/// A `Distributed` target as the plan records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistributedTarget {
    pub cluster: String,
    /// The table the rows land in, on every shard (`db.table`).
    pub remote_database: String,
    pub remote_table: String,
    /// The sharding key expression as the server shows it; absent for none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sharding_key: Option<String>,
    pub shards: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remote_engine: Option<String>,
}

/// `Distributed(cluster, db, table[, sharding_key[, policy]])` → its arguments as text.
fn engine_args(engine_full: &str) -> Option<Vec<String>> {
    let toks = tokenize(engine_full).ok()?;
    let mut it = toks.iter().filter(|t| !t.is_trivia());
    if !it.next()?.is_keyword("Distributed") || !it.next()?.is_punct("(") {
        return None;
    }
    let mut args = Vec::new();
    let mut from = None;
    let mut depth = 0;
    for t in it {
        let at = *from.get_or_insert(t.start);
        if t.is_punct("(") || t.is_punct("[") {
            depth += 1;
        } else if (t.is_punct(")") || t.is_punct("]")) && depth > 0 {
            depth -= 1;
        } else if depth == 0 && (t.is_punct(",") || t.is_punct(")")) {
            args.push(engine_full[at..t.start].trim().to_string());
            from = None;
            if t.is_punct(")") {
                return Some(args);
            }
        }
    }
    None
}

/// A name argument: `'name'` or a bare identifier.
fn name_arg(a: &str) -> String {
    let a = a.trim();
    if a.len() >= 2 && (a.starts_with('\'') && a.ends_with('\'') || a.starts_with('`') && a.ends_with('`')) {
        a[1..a.len() - 1].replace("\\'", "'").replace("\\`", "`")
    } else {
        a.to_string()
    }
}

/// A sharding key whose value for a row can change between two executions of the same
/// INSERT: a retry would send the row to another shard than the first attempt did.
fn non_deterministic(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["rand", "generateuuid", "now", "randomstring", "randcanonical", "nowinblock"].iter().any(|f| {
        k.match_indices(f).any(|(i, _)| {
            let before_ok = i == 0 || !k.as_bytes()[i - 1].is_ascii_alphanumeric() && k.as_bytes()[i - 1] != b'_';
            let rest = &k[i + f.len()..];
            before_ok && (rest.starts_with('(') || rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
    })
}

/// What a `Distributed` engine definition routes to (shards and remote engine not filled in).
pub fn parse_engine(target: &str, engine_full: &str) -> CoreResult<DistributedTarget> {
    let args = engine_args(engine_full).filter(|a| a.len() >= 3).ok_or_else(|| {
        CoreError::usage("distributed_unreadable", format!("{target} is a Distributed table, but its definition '{engine_full}' cannot be read"))
    })?;
    Ok(DistributedTarget {
        cluster: name_arg(&args[0]),
        remote_database: name_arg(&args[1]),
        remote_table: name_arg(&args[2]),
        sharding_key: args.get(3).filter(|k| !k.is_empty()).cloned(),
        shards: 0,
        remote_engine: None,
    })
}

/// Decide whether `target` (a `Distributed` table) can be backfilled with `strategy`.
pub fn check_target(target: &str, strategy: Strategy, input: &DistributedInput) -> CoreResult<DistributedTarget> {
    let d = DistributedTarget {
        shards: input.shards.len() as u32,
        remote_engine: input.remote_engine.clone(),
        ..parse_engine(target, &input.engine_full)?
    };
    let refuse = |why: String| Err(CoreError::usage("distributed_unsupported", format!("{target} (Distributed over cluster {}): {why}", d.cluster)));
    if input.shards.is_empty() {
        return refuse(format!("the server does not know cluster {} (system.clusters)", d.cluster));
    }
    if d.remote_database.contains('(') || d.remote_table.contains('(') {
        return refuse("its remote database or table is an expression; the rows' table cannot be named".into());
    }
    if let Some(s) = input.shards.iter().find(|s| s.replicas > 1 && !s.internal_replication) {
        return refuse(format!(
            "shard {} has {} replicas and internal_replication = false: the Distributed table writes each replica itself, a failure between them leaves them different, and a count reads one of them; set internal_replication = true with Replicated tables",
            s.shard_num, s.replicas
        ));
    }
    if input.shards.len() > 1 && d.sharding_key.is_none() {
        return refuse("it has several shards and no sharding key, so it accepts no INSERT".into());
    }
    if strategy == Strategy::MvReplay && input.shards.len() > 1 {
        if let Some(key) = d.sharding_key.as_deref().filter(|k| non_deterministic(k)) {
            return refuse(format!(
                "mv_replay rests on each shard dropping a retried block by its token, but the sharding key {key} sends a retry's rows to other shards than the first attempt; use a deterministic sharding key"
            ));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(engine_full: &str, shards: &[(u32, u32, bool)]) -> DistributedInput {
        DistributedInput {
            engine_full: engine_full.into(),
            shards: shards.iter().map(|&(n, r, i)| ShardInput { shard_num: n, replicas: r, internal_replication: i }).collect(),
            remote_engine: Some("MergeTree".into()),
        }
    }

    #[test]
    fn reads_the_definition() {
        let d = check_target("app.dist", Strategy::Table, &input("Distributed('local', 'app', 'local', rand())", &[(1, 1, false)])).unwrap();
        assert_eq!((d.cluster.as_str(), d.remote_database.as_str(), d.remote_table.as_str()), ("local", "app", "local"));
        assert_eq!(d.sharding_key.as_deref(), Some("rand()"));
        assert_eq!(d.shards, 1);
        let d = check_target("app.dist", Strategy::MvReplay, &input("Distributed(c, app, events, cityHash64(user_id, toDate(ts))) SETTINGS fsync_after_insert = 0", &[(1, 2, true), (2, 2, true)])).unwrap();
        assert_eq!(d.sharding_key.as_deref(), Some("cityHash64(user_id, toDate(ts))"));
        assert_eq!(d.cluster, "c");
        let d = check_target("app.dist", Strategy::Table, &input("Distributed('c', 'app', 'events')", &[(1, 1, false)])).unwrap();
        assert_eq!(d.sharding_key, None);
    }

    #[test]
    fn refusals() {
        let cases = [
            (Strategy::Table, input("Distributed('nope', 'app', 'local')", &[]), "does not know cluster nope"),
            (Strategy::Table, input("Distributed('c', 'app', 'local', rand())", &[(1, 2, false)]), "internal_replication = false"),
            (Strategy::Copy, input("Distributed('c', 'app', 'local')", &[(1, 1, true), (2, 1, true)]), "no sharding key"),
            (Strategy::MvReplay, input("Distributed('c', 'app', 'local', rand())", &[(1, 1, true), (2, 1, true)]), "sharding key rand()"),
            (Strategy::Table, input("Merge(x)", &[(1, 1, true)]), "cannot be read"),
        ];
        for (strategy, i, needle) in cases {
            let e = check_target("app.dist", strategy, &i).unwrap_err();
            assert!(e.message.contains(needle), "{}", e.message);
        }
        // rand() is fine where counts decide, and with one shard every retry goes to the same place.
        assert!(check_target("app.dist", Strategy::Table, &input("Distributed('c', 'app', 'local', rand())", &[(1, 1, true), (2, 1, true)])).is_ok());
        assert!(check_target("app.dist", Strategy::MvReplay, &input("Distributed('c', 'app', 'local', rand())", &[(1, 1, true)])).is_ok());
        assert!(!non_deterministic("cityHash64(operand)"));
        assert!(non_deterministic("rand32()"));
    }
}
