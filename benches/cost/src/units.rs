//! DynamoDB's billing arithmetic, on items in the wire format (`{"S": ".."}`, `{"N": ".."}`, ..).
//!
//! Sizes follow AWS's item size rules ("Item sizes and formats", DynamoDB developer guide):
//! an item is the sum of its attribute names' UTF-8 lengths and its values' sizes; a string is its
//! UTF-8 length, a binary its raw bytes, a number about one byte per two significant digits plus
//! one, a boolean or null one byte, a list or map 3 bytes plus one per element plus its elements,
//! a set the sum of its elements. Units follow "Read/write capacity mode": a read is one unit per
//! 4 KB (half when eventually consistent), a write one per 1 KB, a transactional one twice that,
//! and a Query or Scan page sums its items' sizes before rounding up.

use base64::Engine;
use serde_json::{Map, Value};

/// Bytes per read unit.
pub(crate) const READ_UNIT_BYTES: u64 = 4 * 1024;
/// Bytes per write unit.
pub(crate) const WRITE_UNIT_BYTES: u64 = 1024;

/// How a read is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consistency {
    /// Half a unit per 4 KB.
    Eventual,
    /// One unit per 4 KB.
    Strong,
    /// Two units per 4 KB (TransactGetItems).
    Transactional,
}

impl Consistency {
    /// `ConsistentRead` as a request gives it (absent means eventually consistent).
    pub(crate) fn of_request(consistent_read: Option<bool>) -> Self {
        if consistent_read == Some(true) { Self::Strong } else { Self::Eventual }
    }

    fn factor(self) -> f64 {
        match self {
            Self::Eventual => 0.5,
            Self::Strong => 1.0,
            Self::Transactional => 2.0,
        }
    }
}

/// The size AWS bills for an item (a JSON object of attribute name to typed value).
pub(crate) fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

/// The size of one typed value (`{"S": "abc"}` is 3).
pub(crate) fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let strings = || inner.as_array().into_iter().flatten().filter_map(Value::as_str);
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, binary_size),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(|s| s.len() as u64).sum(),
        "NS" => strings().map(number_size).sum(),
        "BS" => strings().map(binary_size).sum(),
        "L" => 3 + inner.as_array().into_iter().flatten().map(|v| 1 + value_size(v)).sum::<u64>(),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum()),
        _ => 0,
    }
}

/// One byte per two significant digits (leading and trailing zeros trimmed), plus one.
fn number_size(n: &str) -> u64 {
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.div_ceil(2) + 1
}

fn binary_size(b64: &str) -> u64 {
    base64::engine::general_purpose::STANDARD.decode(b64).map_or(b64.len() as u64 * 3 / 4, |b| b.len() as u64)
}

/// Read units for one read of `bytes` (a GetItem's item, a Query or Scan page's items summed):
/// at least one 4 KB unit, so reading nothing still costs one.
pub(crate) fn read_units(bytes: u64, consistency: Consistency) -> f64 {
    bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64 * consistency.factor()
}

/// Write units for writing one item of `bytes`, twice for a transaction's.
pub(crate) fn write_units(bytes: u64, transactional: bool) -> f64 {
    let units = bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as f64;
    if transactional { 2.0 * units } else { units }
}

/// Read units of a Query or Scan page: its items' sizes summed, then rounded up once.
pub(crate) fn page_read_units<'a>(items: impl IntoIterator<Item = &'a Map<String, Value>>, c: Consistency) -> f64 {
    read_units(items.into_iter().map(item_size).sum(), c)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_item_is_its_names_and_values() {
        // "pk" 2 + "ROOM#a" 6, "sk" 2 + "SUB#c1" 6, "n" 1 + 12345 (5 digits: 3 + 1).
        let i = item(json!({"pk": {"S": "ROOM#a"}, "sk": {"S": "SUB#c1"}, "n": {"N": "12345"}}));
        assert_eq!(item_size(&i), 8 + 8 + 1 + 4);
    }

    #[test]
    fn numbers_count_significant_digits_only() {
        assert_eq!(value_size(&json!({"N": "1795000000"})), 3); // 1795: 2 + 1
        assert_eq!(value_size(&json!({"N": "-0.0012"})), 2); // 12: 1 + 1
        assert_eq!(value_size(&json!({"N": "123"})), 3); // 2 + 1
        assert_eq!(value_size(&json!({"N": "0"})), 1);
    }

    #[test]
    fn strings_count_utf8_bytes() {
        assert_eq!(value_size(&json!({"S": "é"})), 2);
    }

    #[test]
    fn documents_and_sets_have_their_overheads() {
        // Map: 3 + ("a" 1 + 1 + "xy" 2); list: 3 + (1 + 1) + (1 + 1); set: 2 + 3.
        assert_eq!(value_size(&json!({"M": {"a": {"S": "xy"}}})), 3 + 4);
        assert_eq!(value_size(&json!({"L": [{"BOOL": true}, {"NULL": true}]})), 3 + 2 + 2);
        assert_eq!(value_size(&json!({"SS": ["ab", "cde"]})), 5);
        assert_eq!(value_size(&json!({"B": "AAEC"})), 3);
    }

    #[test]
    fn reads_round_up_to_4_kb_and_never_cost_nothing() {
        assert_eq!(read_units(0, Consistency::Strong), 1.0);
        assert_eq!(read_units(4096, Consistency::Strong), 1.0);
        assert_eq!(read_units(4097, Consistency::Strong), 2.0);
        assert_eq!(read_units(4097, Consistency::Eventual), 1.0);
        assert_eq!(read_units(100, Consistency::Eventual), 0.5);
        assert_eq!(read_units(100, Consistency::Transactional), 2.0);
    }

    #[test]
    fn writes_round_up_to_1_kb_and_transactions_double() {
        assert_eq!(write_units(1, false), 1.0);
        assert_eq!(write_units(1024, false), 1.0);
        assert_eq!(write_units(1025, false), 2.0);
        assert_eq!(write_units(1025, true), 4.0);
        assert_eq!(write_units(0, true), 2.0);
    }

    #[test]
    fn a_page_is_summed_before_it_is_rounded() {
        // 100 items of 100 bytes: 10,000 bytes is 3 units, not the 100 of rounding each.
        let one = item(json!({"pk": {"S": "x".repeat(98)}}));
        assert_eq!(item_size(&one), 100);
        let page = vec![one; 100];
        assert_eq!(page_read_units(&page, Consistency::Strong), 3.0);
        assert_eq!(page_read_units(&page, Consistency::Eventual), 1.5);
        assert_eq!(page_read_units(&[], Consistency::Strong), 1.0);
    }

    #[test]
    fn consistent_read_defaults_to_eventual() {
        assert_eq!(Consistency::of_request(None), Consistency::Eventual);
        assert_eq!(Consistency::of_request(Some(false)), Consistency::Eventual);
        assert_eq!(Consistency::of_request(Some(true)), Consistency::Strong);
    }
}
