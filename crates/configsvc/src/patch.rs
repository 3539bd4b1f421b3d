//! RFC 6902 JSON Patch (`add`, `replace`, `remove`, `copy`, `move`, `test`) over a JSON value.

use serde_json::{Map, Value};

use crate::error::ConfigError;

/// One patch operation.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    /// The operation name.
    pub op: String,
    /// Target (a JSON pointer).
    pub path: String,
    /// Value for add/replace/test.
    pub value: Option<Value>,
    /// Source for copy/move.
    pub from: Option<String>,
}

impl PatchOp {
    /// Parses one operation object.
    pub fn from_value(v: &Value) -> Result<Self, ConfigError> {
        let o = v.as_object().ok_or(ConfigError::Invalid(
            "a JSON patch is a list of operation objects",
        ))?;
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            op: text("op").ok_or(ConfigError::Invalid("every patch operation needs \"op\""))?,
            path: text("path")
                .ok_or(ConfigError::Invalid("every patch operation needs \"path\""))?,
            value: o.get("value").cloned(),
            from: text("from"),
        })
    }
}

/// The reference tokens of a JSON pointer, unescaped.
pub(crate) fn tokens(pointer: &str) -> Result<Vec<String>, ConfigError> {
    if pointer.is_empty() {
        return Ok(vec![]);
    }
    let rest = pointer.strip_prefix('/').ok_or(ConfigError::Invalid(
        "patch paths are JSON pointers starting with '/'",
    ))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(root: &'a mut Value, path: &[String]) -> Result<&'a mut Value, ConfigError> {
    let mut node = root;
    for t in path {
        node = match node {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or(ConfigError::Invalid(
            "a patch path names a member that does not exist",
        ))?;
    }
    Ok(node)
}

fn get(root: &Value, path: &[String]) -> Option<Value> {
    let mut node = root;
    for t in path {
        node = match node {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node.clone())
}

fn add(root: &mut Value, path: &[String], value: Value) -> Result<(), ConfigError> {
    let Some((last, dirs)) = path.split_last() else {
        *root = value;
        return Ok(());
    };
    match parent(root, dirs)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) if last == "-" => {
            a.push(value);
            Ok(())
        }
        Value::Array(a) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i <= a.len())
                .ok_or(ConfigError::Invalid("a patch array index is out of range"))?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(ConfigError::Invalid(
            "a patch path goes through a value that is not an object or array",
        )),
    }
}

fn remove(root: &mut Value, path: &[String]) -> Result<Value, ConfigError> {
    let (last, dirs) = path
        .split_last()
        .ok_or(ConfigError::Invalid("the whole document cannot be removed"))?;
    let removed = match parent(root, dirs)? {
        Value::Object(m) => m.remove(last),
        Value::Array(a) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    removed.ok_or(ConfigError::Invalid(
        "a patch removes a member that does not exist",
    ))
}

/// Applies the operations in order; on error the document is unchanged.
pub fn apply(
    document: &Map<String, Value>,
    ops: &[PatchOp],
) -> Result<Map<String, Value>, ConfigError> {
    let mut doc = Value::Object(document.clone());
    for op in ops {
        let path = tokens(&op.path)?;
        let value = || {
            op.value
                .clone()
                .ok_or(ConfigError::Invalid("add, replace and test need \"value\""))
        };
        match op.op.as_str() {
            "add" => add(&mut doc, &path, value()?)?,
            "replace" => {
                remove(&mut doc, &path)?;
                add(&mut doc, &path, value()?)?;
            }
            "remove" => {
                remove(&mut doc, &path)?;
            }
            "copy" | "move" => {
                let from = tokens(
                    op.from
                        .as_deref()
                        .ok_or(ConfigError::Invalid("copy and move need \"from\""))?,
                )?;
                let v = if op.op == "move" {
                    remove(&mut doc, &from)?
                } else {
                    get(&doc, &from).ok_or(ConfigError::Invalid(
                        "a patch copies a member that does not exist",
                    ))?
                };
                add(&mut doc, &path, v)?;
            }
            "test" => {
                if get(&doc, &path) != Some(value()?) {
                    return Err(ConfigError::Invalid("a patch test operation failed"));
                }
            }
            _ => {
                return Err(ConfigError::Invalid(
                    "patch operations are add, replace, remove, copy, move and test",
                ));
            }
        }
    }
    match doc {
        Value::Object(m) => Ok(m),
        _ => Err(ConfigError::Invalid("a patch must leave an object")),
    }
}

/// The operations of a JSON patch written as JSON (tests).
#[cfg(test)]
pub(crate) fn ops(v: Value) -> Vec<PatchOp> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| PatchOp::from_value(o).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_rfc_6902_operations() {
        let doc = json!({"a": {"b": 1}, "list": [1, 2]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let out = apply(
            &doc,
            &ops(json!([
                {"op": "replace", "path": "/a/b", "value": 2},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "add", "path": "/c", "value": "x"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"},
                {"op": "remove", "path": "/list/0"},
                {"op": "test", "path": "/e", "value": "x"}
            ])),
        );
        assert_eq!(
            out.ok().map(Value::Object),
            Some(json!({"a": {"b": 2}, "list": [2, 3], "c": "x", "e": "x"}))
        );
    }

    #[test]
    fn refuses_bad_operations_and_leaves_the_document_alone() {
        let doc = json!({"a": 1}).as_object().cloned().unwrap_or_default();
        for bad in [
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "test", "path": "/a", "value": 2}]),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
        ] {
            assert!(apply(&doc, &ops(bad.clone())).is_err(), "{bad}");
        }
    }
}
