//! The fixtures the Rust side shares with the page's tests, in `ui/tests/fixtures/`: what Rust
//! sends is written down there, and the page's tests check that the page understands it. A test
//! here fails when Rust no longer sends what a fixture says; run it with `DDN_BLESS=1` to write
//! the fixture anew from what Rust sends now (then the page's tests say whether the page agrees).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// The variable that makes [`check`] rewrite a fixture instead of failing.
pub const BLESS: &str = "DDN_BLESS";

/// The fixture file `name` (a path under `ui/tests/fixtures/`).
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ui/tests/fixtures")
        .join(name)
}

/// Whether this run writes fixtures anew.
pub fn blessing() -> bool {
    std::env::var_os(BLESS).is_some_and(|value| value == "1")
}

/// `value` as the fixtures spell JSON: indented by two spaces, with a final newline.
pub fn pretty_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("fixtures serialize");
    text.push('\n');
    text
}

/// The fixture `name` as JSON; `None` when it is missing or not JSON.
pub fn read(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(path(name)).ok()?;
    serde_json::from_str(&text).ok()
}

/// `value` with every number as a float: JSON has one kind of number, and a fixture written by
/// the page's tools spells `0.0` as `0`.
fn same_numbers(value: Value) -> Value {
    match value {
        Value::Number(number) => number.as_f64().map_or(Value::Number(number), Value::from),
        Value::Array(items) => Value::Array(items.into_iter().map(same_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, item)| (key, same_numbers(item)))
                .collect(),
        ),
        other => other,
    }
}

/// Checks that the fixture `name` holds the JSON of `expected` (compared as JSON, so the file's
/// layout does not matter); with `DDN_BLESS=1`, writes it instead.
///
/// # Panics
/// When the fixture differs (or is missing) and this run does not bless.
pub fn check(name: &str, expected: &impl Serialize) {
    let file = path(name);
    let expected_json = serde_json::to_value(expected).expect("fixtures serialize");
    if blessing() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("the fixtures folder");
        }
        std::fs::write(&file, pretty_json(&expected_json)).expect("the fixture is written");
        return;
    }
    let found = read(name);
    assert!(
        found.clone().map(same_numbers) == Some(same_numbers(expected_json.clone())),
        "{} is not what the Rust side sends now.\n--- what Rust sends\n{}--- the fixture\n{}\n\
         If the change is meant, run this test again with {BLESS}=1 to rewrite the fixture, \
         then run `node --test ui/tests/*.test.js` to see whether the page agrees.",
        file.display(),
        pretty_json(&expected_json),
        found.map_or_else(
            || "(missing or not JSON)".to_owned(),
            |json| pretty_json(&json)
        ),
    );
}
