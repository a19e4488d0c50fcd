//! Reads counters from the relay's Prometheus `/metrics` text.

use std::collections::{BTreeMap, HashMap};

/// The sum over all label sets of each metric in a Prometheus text exposition, keyed by
/// metric name. Comment lines and unparsable lines are skipped.
pub fn parse(text: &str) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let value_part = match rest.strip_prefix('{') {
            // Label values may contain spaces or braces inside quotes: skip to the closing
            // brace outside quotes.
            Some(labels) => match closing_brace(labels) {
                Some(end) => &labels[end + 1..],
                None => continue,
            },
            None => rest,
        };
        let Some(value) = value_part.split_whitespace().next() else {
            continue;
        };
        if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
        {
            *out.entry(name.to_string()).or_default() += v;
        }
    }
    out
}

/// The values of `metric` by the value of its label `label` (other labels summed), e.g. the
/// relay's drops by reason.
pub fn by_label(text: &str, metric: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let needle = format!("{label}=\"");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let Some(labels) = rest.strip_prefix('{') else {
            continue;
        };
        let Some(end) = closing_brace(labels) else {
            continue;
        };
        let (inside, after) = (&labels[..end], &labels[end + 1..]);
        let Some(at) = inside.find(&needle) else {
            continue;
        };
        let value_start = &inside[at + needle.len()..];
        let Some(q) = value_start.find('"') else {
            continue;
        };
        let Some(v) = after
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        else {
            continue;
        };
        *out.entry(value_start[..q].to_string()).or_default() += v;
    }
    out
}

fn closing_brace(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_label_sets_and_skips_comments() {
        let text = "# HELP x_total things\n# TYPE x_total counter\n\
                    x_total{dir=\"in\",otel_scope_name=\"a b}\"} 10\n\
                    x_total{dir=\"out\"} 5.5 1700000000\n\
                    y 3\nbroken{ 1\nz NaN\n";
        let m = parse(text);
        assert_eq!(m["x_total"], 15.5);
        assert_eq!(m["y"], 3.0);
        assert!(!m.contains_key("broken"));
        assert!(!m.contains_key("z"));
    }

    #[test]
    fn values_by_label() {
        let text = "d_total{reason=\"bad_tag\",x=\"1\"} 3\nd_total{reason=\"replay\"} 2\n\
                    d_total{x=\"2\",reason=\"bad_tag\"} 4\nother{reason=\"bad_tag\"} 9\n";
        let m = by_label(text, "d_total", "reason");
        assert_eq!(m["bad_tag"], 7.0);
        assert_eq!(m["replay"], 2.0);
        assert_eq!(m.len(), 2);
    }
}
