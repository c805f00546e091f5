//! What `wend nodes` prints: an aligned table, or JSON.

use std::cmp::Ordering;

use wend_proto::NodeInfo;

/// Sorts nodes by name, with digit runs compared as numbers (`node2` before `node10`).
pub fn sort_nodes(nodes: &mut [NodeInfo]) {
    nodes.sort_by(|a, b| natural_cmp(&a.name, &b.name).then_with(|| a.addr.cmp(&b.addr)));
}

/// Compares two names, digit runs as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                a = &a[x.len_utf8()..];
                b = &b[y.len_utf8()..];
            }
        }
    }
}

/// Bytes as a short human size (`512M`, `3.8G`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v >= 100.0 {
        format!("{v:.0}{}", UNITS[unit])
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// The `wend nodes` table: one row per node, the local node marked with `*`.
pub fn nodes_table(nodes: &[NodeInfo]) -> String {
    let header = [
        "NAME", "STATE", "ADDRESS", "CPUS", "SPEED", "LOAD", "MEMORY", "GUESTS", "ACCEPT",
    ];
    let rows: Vec<[String; 9]> = nodes
        .iter()
        .map(|n| {
            [
                format!("{}{}", n.name, if n.local { "*" } else { "" }),
                n.state.to_string(),
                n.addr.clone(),
                format!("{}", n.cpus),
                format!("{:.2}", n.speed),
                format!("{:.2}", n.load),
                format!("{}/{}", human_bytes(n.mem_free), human_bytes(n.mem_total)),
                n.guests.to_string(),
                if n.accepting { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // Names, states and addresses left-aligned; numbers right-aligned.
            if i < 3 {
                l.push_str(&format!("{cell:<w$}  "));
            } else {
                l.push_str(&format!("{cell:>w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// The `wend nodes --json` output: an array of node objects.
pub fn nodes_json(nodes: &[NodeInfo]) -> String {
    // NodeInfo holds only strings, numbers and booleans: serialising cannot fail.
    serde_json::to_string_pretty(nodes).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use wend_proto::NodeState;

    use super::*;

    fn node(name: &str, local: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            state: NodeState::Alive,
            addr: "10.0.0.1:7100".into(),
            cpus: 2.0,
            speed: 1.0,
            load: 0.5,
            mem_free: 3 << 30,
            mem_total: 8 << 30,
            guests: 0,
            accepting: true,
            local,
            age_ms: None,
        }
    }

    #[test]
    fn natural_order() {
        let mut v = vec![node("node10", false), node("node2", false), node("a", true)];
        sort_nodes(&mut v);
        let names: Vec<_> = v.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "node2", "node10"]);
        assert_eq!(natural_cmp("n01", "n1"), Ordering::Equal);
    }

    #[test]
    fn table_rows_align() {
        let t = nodes_table(&[node("node1", true), node("node22", false)]);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME"));
        assert!(lines[1].starts_with("node1*"));
        assert!(lines[1].contains("3.0G/8.0G"));
        assert!(lines[1].ends_with("yes"));
        let col = |l: &str| l.find("alive").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]));
    }

    #[test]
    fn json_has_the_keys() {
        let v: serde_json::Value = serde_json::from_str(&nodes_json(&[node("x", false)])).unwrap();
        let o = &v.as_array().unwrap()[0];
        for k in [
            "name",
            "state",
            "cpus",
            "speed",
            "load",
            "mem_free",
            "mem_total",
            "guests",
        ] {
            assert!(o.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5K");
        assert_eq!(human_bytes(3 << 30), "3.0G");
        assert_eq!(human_bytes(200 << 20), "200M");
    }
}
