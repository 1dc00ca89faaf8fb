//! What a command prints: the API's JSON with `--json`, readable text without. Every command returns an
//! [`Output`] with both, and [`Output::print`] chooses; progress and warnings go to standard error, so that standard
//! output stays the answer.

use serde_json::Value;

/// A command's result, in both forms.
#[derive(Debug)]
pub struct Output {
    pub json: Value,
    pub text: String,
    /// Why the command exits non-zero after printing its output (a bulk import with failed rows).
    pub incomplete: Option<String>,
}

impl Output {
    pub fn new(json: Value, text: impl Into<String>) -> Output {
        Output { json, text: text.into(), incomplete: None }
    }

    /// The same output, with a non-zero exit for this reason.
    pub fn incomplete(self, reason: String) -> Output {
        Output { incomplete: Some(reason), ..self }
    }

    /// Writes the chosen form to standard output, ignoring a closed pipe (`| head`).
    pub fn print(&self, json: bool) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&self.json).unwrap_or_default())
        } else if self.text.is_empty() {
            Ok(())
        } else {
            writeln!(out, "{}", self.text)
        };
    }
}

/// A property of a JSON object as text: strings as they are, `null` and absent as empty, the rest as JSON.
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect::<Vec<_>>().join(";")
        }
        Some(other) => other.to_string(),
    }
}

/// Rows as columns aligned on the widest cell of each (the last column is not padded).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An object's non-empty properties as `name: value` lines, in the object's order.
pub fn properties(v: &Value) -> String {
    let Some(map) = v.as_object() else { return v.to_string() };
    let rows: Vec<Vec<String>> = map
        .keys()
        .filter(|k| !k.starts_with('@'))
        .map(|k| (k, text(v, k)))
        .filter(|(_, t)| !t.is_empty())
        .map(|(k, t)| vec![format!("{k}:"), t])
        .collect();
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_properties_skip_empty_values() {
        let rows = vec![vec!["a".to_string(), "bb".into(), "c".into()], vec!["aaa".into(), "b".into(), "".into()]];
        assert_eq!(table(&rows), "a    bb  c\naaa  b");
        let v = json!({"@odata.context": "x", "id": "1", "mail": null, "businessPhones": ["1", "2"], "accountEnabled": false});
        assert_eq!(properties(&v), "id:              1\nbusinessPhones:  1;2\naccountEnabled:  false");
    }
}
