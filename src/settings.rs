//! The user's settings for every chunk INSERT (`insertSettings` in the options,
//! `--setting name=value` on `plan`): names checked, pinned ones refused, values
//! checked against the connected server's `system.settings` type.

use crate::error::{CoreError, CoreResult};
use crate::sql::{pinned_insert_settings, InsertSettings, SettingValue};
use serde::Deserialize;
use serde_json::Value;

/// A row of `system.settings`: what the connected server knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSetting {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

fn bad(message: String) -> CoreError {
    CoreError::usage("invalid_setting", message)
}

fn check_name(name: &str, origin: &str) -> CoreResult<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(bad(format!("{origin}: '{name}' is not a setting name (letters, digits, _)")))
    }
}

/// Pinned names among `names`, refused all at once.
fn refuse_pinned<'a>(names: impl Iterator<Item = &'a String>) -> CoreResult<()> {
    let pinned = pinned_insert_settings();
    let hit: Vec<&str> = names.filter(|n| pinned.contains(&n.as_str())).map(String::as_str).collect();
    if hit.is_empty() {
        return Ok(());
    }
    Err(CoreError::usage(
        "pinned_setting",
        format!(
            "{} cannot be set: the backfill pins {} on every chunk INSERT for correctness (pinned: {})",
            hit.join(", "),
            if hit.len() == 1 { "it" } else { "them" },
            pinned.join(", ")
        ),
    ))
}

/// `options.insertSettings`: an object of name → number, string or boolean.
pub fn from_options(raw: &Value) -> CoreResult<InsertSettings> {
    let map = raw.as_object().ok_or_else(|| CoreError::usage("invalid_option", format!("option insertSettings must be an object, got {raw}")))?;
    let mut out = InsertSettings::new();
    for (k, v) in map {
        check_name(k, "option insertSettings").map_err(|e| CoreError::usage("invalid_option", e.message))?;
        let value = match v {
            Value::Bool(b) => SettingValue::Bool(*b),
            Value::Number(n) => SettingValue::Number(n.clone()),
            Value::String(s) => SettingValue::Text(s.clone()),
            other => return Err(CoreError::usage("invalid_option", format!("option insertSettings.{k} must be a number, string or boolean, got {other}"))),
        };
        out.insert(k.clone(), value);
    }
    refuse_pinned(out.keys())?;
    Ok(out)
}

/// `--setting name=value` as typed. The value stays text until the server's type is known.
pub fn parse_flag(raw: &str) -> CoreResult<(String, String)> {
    let Some((name, value)) = raw.split_once('=') else {
        return Err(bad(format!("--setting '{raw}' is not name=value")));
    };
    let name = name.trim();
    check_name(name, "--setting")?;
    Ok((name.to_string(), value.trim().to_string()))
}

/// The settings of a plan: the options' with `--setting` over them, pinned names refused;
/// with the server's `system.settings`, unknown names refused and values checked (and
/// typed) against the server's type.
pub fn resolve(options: &InsertSettings, flags: &[String], server: Option<&[ServerSetting]>) -> CoreResult<InsertSettings> {
    let mut out = options.clone();
    for raw in flags {
        let (name, value) = parse_flag(raw)?;
        out.insert(name, SettingValue::Text(value));
    }
    refuse_pinned(out.keys())?;
    let Some(server) = server else {
        // No server to ask: a flag's text is read as a number or boolean when it is one.
        return Ok(out.into_iter().map(|(k, v)| (k, untyped(v))).collect());
    };
    let unknown: Vec<&str> = out.keys().filter(|k| !server.iter().any(|s| &s.name == *k)).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(bad(format!("unknown setting{} {}: the connected server has no such setting (system.settings)", if unknown.len() == 1 { "" } else { "s" }, unknown.join(", "))));
    }
    out.into_iter()
        .map(|(k, v)| {
            let ty = &server.iter().find(|s| s.name == k).expect("known").ty;
            let typed = typed(&k, v, ty)?;
            Ok((k, typed))
        })
        .collect()
}

fn untyped(v: SettingValue) -> SettingValue {
    match v {
        SettingValue::Text(t) => match t.as_str() {
            "true" => SettingValue::Bool(true),
            "false" => SettingValue::Bool(false),
            _ => serde_json::from_str::<serde_json::Number>(&t).map(SettingValue::Number).unwrap_or(SettingValue::Text(t)),
        },
        v => v,
    }
}

enum Kind {
    Bool,
    Unsigned { non_zero: bool },
    Signed,
    Float,
    /// A number or `auto` (MaxThreads and the like).
    NumberOrAuto,
    Text,
}

fn kind(ty: &str) -> Kind {
    match ty {
        "Bool" => Kind::Bool,
        "NonZeroUInt64" => Kind::Unsigned { non_zero: true },
        t if t.starts_with("UInt") && !t.ends_with("Auto") => Kind::Unsigned { non_zero: false },
        "Milliseconds" => Kind::Unsigned { non_zero: false },
        t if t.starts_with("Int") => Kind::Signed,
        "Float" | "Double" | "Seconds" => Kind::Float,
        "MaxThreads" | "UInt64Auto" | "FloatAuto" => Kind::NumberOrAuto,
        _ => Kind::Text,
    }
}

fn typed(name: &str, v: SettingValue, ty: &str) -> CoreResult<SettingValue> {
    let shown = match &v {
        SettingValue::Text(t) => quote_shown(t),
        other => other.literal(),
    };
    let wrong = || bad(format!("setting {name} = {shown}: the server's type is {ty}, which that is not"));
    let number = |v: &SettingValue| -> Option<serde_json::Number> {
        match v {
            SettingValue::Number(n) => Some(n.clone()),
            SettingValue::Text(t) => serde_json::from_str(t).ok(),
            SettingValue::Bool(_) => None,
        }
    };
    match kind(ty) {
        Kind::Bool => match &v {
            SettingValue::Bool(b) => Ok(SettingValue::Bool(*b)),
            SettingValue::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => Ok(SettingValue::Bool(n.as_u64() == Some(1))),
            SettingValue::Text(t) if ["0", "false"].contains(&t.as_str()) => Ok(SettingValue::Bool(false)),
            SettingValue::Text(t) if ["1", "true"].contains(&t.as_str()) => Ok(SettingValue::Bool(true)),
            _ => Err(wrong()),
        },
        Kind::Unsigned { non_zero } => match number(&v).and_then(|n| n.as_u64()) {
            Some(n) if !non_zero || n > 0 => Ok(SettingValue::Number(n.into())),
            _ => Err(wrong()),
        },
        Kind::Signed => number(&v).and_then(|n| n.as_i64()).map(|n| SettingValue::Number(n.into())).ok_or_else(wrong),
        Kind::Float => number(&v).filter(|n| n.as_f64().is_some_and(f64::is_finite)).map(SettingValue::Number).ok_or_else(wrong),
        Kind::NumberOrAuto => match (&v, number(&v)) {
            (_, Some(n)) if n.as_u64().is_some() || n.as_f64().is_some_and(|f| f >= 0.0) => Ok(SettingValue::Number(n)),
            (SettingValue::Text(t), None) if t == "auto" => Ok(SettingValue::Text(t.clone())),
            _ => Err(wrong()),
        },
        // Strings and the server's own enumerations: given as text (a number is written as one).
        Kind::Text => match v {
            SettingValue::Text(t) => Ok(SettingValue::Text(t)),
            SettingValue::Number(n) => Ok(SettingValue::Text(n.to_string())),
            SettingValue::Bool(_) => Err(wrong()),
        },
    }
}

fn quote_shown(t: &str) -> String {
    format!("'{t}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> Vec<ServerSetting> {
        [("max_insert_threads", "UInt64"), ("max_memory_usage", "UInt64"), ("log_comment", "String"), ("optimize_on_insert", "Bool"), ("max_threads", "MaxThreads"), ("max_block_size", "NonZeroUInt64"), ("max_execution_time", "Seconds")]
            .iter()
            .map(|(n, t)| ServerSetting { name: n.to_string(), ty: t.to_string() })
            .collect()
    }

    #[test]
    fn options_and_flags_merge_and_type() {
        let opts = from_options(&json!({"max_insert_threads": 2, "log_comment": "bf", "optimize_on_insert": false})).unwrap();
        let s = server();
        let r = resolve(&opts, &["max_insert_threads=4".into(), "max_threads=auto".into(), "max_execution_time=1.5".into()], Some(&s)).unwrap();
        assert_eq!(r["max_insert_threads"], SettingValue::Number(4.into()), "the flag wins");
        assert_eq!(r["log_comment"].literal(), "'bf'");
        assert_eq!(r["optimize_on_insert"].literal(), "0");
        assert_eq!(r["max_threads"].literal(), "'auto'");
        assert_eq!(r["max_execution_time"].literal(), "1.5");
        // Without a server, a flag's text is read as what it looks like.
        let r = resolve(&InsertSettings::new(), &["max_insert_threads=4".into(), "x=true".into(), "y=abc".into()], None).unwrap();
        assert_eq!(r["max_insert_threads"].literal(), "4");
        assert_eq!(r["x"].literal(), "1");
        assert_eq!(r["y"].literal(), "'abc'");
    }

    #[test]
    fn refusals_name_the_setting() {
        let s = server();
        let cases: Vec<(CoreResult<InsertSettings>, &str, &str)> = vec![
            (resolve(&InsertSettings::new(), &["insert_deduplicate=0".into(), "async_insert=1".into()], None), "pinned_setting", "async_insert, insert_deduplicate cannot be set"),
            (from_options(&json!({"distributed_foreground_insert": 0})).map(|_| InsertSettings::new()), "pinned_setting", "distributed_foreground_insert"),
            (from_options(&json!({"enable_parallel_replicas": 1})).map(|_| InsertSettings::new()), "pinned_setting", "enable_parallel_replicas"),
            (resolve(&InsertSettings::new(), &["max_insert_thread=4".into()], Some(&s)), "invalid_setting", "max_insert_thread"),
            (resolve(&InsertSettings::new(), &["max_insert_threads=four".into()], Some(&s)), "invalid_setting", "max_insert_threads = 'four'"),
            (resolve(&InsertSettings::new(), &["max_insert_threads=-1".into()], Some(&s)), "invalid_setting", "UInt64"),
            (resolve(&InsertSettings::new(), &["max_block_size=0".into()], Some(&s)), "invalid_setting", "NonZeroUInt64"),
            (resolve(&InsertSettings::new(), &["optimize_on_insert=2".into()], Some(&s)), "invalid_setting", "Bool"),
            (resolve(&InsertSettings::new(), &["noequals".into()], None), "invalid_setting", "name=value"),
            (resolve(&InsertSettings::new(), &["bad-name=1".into()], None), "invalid_setting", "bad-name"),
            (from_options(&json!({"max_threads": [1]})), "invalid_option", "insertSettings.max_threads"),
            (from_options(&json!([1])), "invalid_option", "insertSettings"),
        ];
        for (r, code, needle) in cases {
            let e = r.unwrap_err();
            assert_eq!(e.code, code, "{}", e.message);
            assert!(e.message.contains(needle), "{} should name {needle}", e.message);
        }
    }
}
