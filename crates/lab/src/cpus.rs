//! `--cpus SPEC`: each node's CPU share.

use crate::error::LabError;

/// The CFS period used for every node (100 ms, the kernel's default).
pub const CFS_PERIOD_US: u64 = 100_000;

/// The CPU share of each node: `None` is unlimited, `Some(x)` is `x` CPUs' worth of time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CpuSpec(Vec<f64>);

impl CpuSpec {
    /// No limit on any node.
    pub fn unlimited() -> Self {
        CpuSpec(Vec::new())
    }

    /// The same share for every node.
    pub fn uniform(share: f64) -> Self {
        CpuSpec(vec![share])
    }

    /// Parses `1` (every node one CPU) or `1,0.5,0.5` (one share per node, in order).
    pub fn parse(spec: &str) -> Result<Self, LabError> {
        let bad = |why: String| LabError::BadCpus {
            spec: spec.to_owned(),
            why,
        };
        let mut shares = Vec::new();
        for part in spec.split(',') {
            let part = part.trim();
            let v: f64 = part
                .parse()
                .map_err(|_| bad(format!("{part:?} is not a number (write e.g. 1 or 0.5)")))?;
            if !v.is_finite() || !(0.01..=1024.0).contains(&v) {
                return Err(bad(format!("{part} is outside 0.01..1024 CPUs")));
            }
            shares.push(v);
        }
        Ok(CpuSpec(shares))
    }

    /// One share per node for a lab of `nodes` nodes: a single value applies to all, a list
    /// must have exactly one value per node.
    pub fn per_node(&self, nodes: usize) -> Result<Vec<Option<f64>>, LabError> {
        match self.0.len() {
            0 => Ok(vec![None; nodes]),
            1 => Ok(vec![Some(self.0[0]); nodes]),
            n if n == nodes => Ok(self.0.iter().copied().map(Some).collect()),
            n => Err(LabError::BadCpus {
                spec: self.to_string(),
                why: format!("{n} values for {nodes} nodes: give one value, or one per node"),
            }),
        }
    }
}

impl std::fmt::Display for CpuSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|v| v.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// The CFS quota (µs per [`CFS_PERIOD_US`]) for a share, or `None` for unlimited.
pub fn quota_us(share: Option<f64>) -> Option<u64> {
    share.map(|s| (s * CFS_PERIOD_US as f64).round() as u64)
}

/// Parses a cpuset list such as `0-3,6` into CPU numbers.
pub fn parse_cpu_list(list: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<u32>().ok()),
        }
    }
    cpus
}

/// Pins nodes to CPUs: each node gets `ceil(share)` CPUs (all of them when unlimited, at
/// most all), handed out round-robin from `available`.
pub fn pin(shares: &[Option<f64>], available: &[u32]) -> Vec<String> {
    let mut cursor = 0;
    shares
        .iter()
        .map(|share| {
            let want = match share {
                Some(s) => (s.ceil() as usize).clamp(1, available.len().max(1)),
                None => available.len(),
            };
            let mut mine: Vec<u32> = (0..want)
                .filter_map(|k| {
                    available
                        .get((cursor + k) % available.len().max(1))
                        .copied()
                })
                .collect();
            cursor += want;
            mine.sort_unstable();
            mine.dedup();
            mine.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uniform_and_lists() {
        assert_eq!(
            CpuSpec::parse("1").unwrap().per_node(3).unwrap(),
            vec![Some(1.0); 3]
        );
        assert_eq!(
            CpuSpec::parse("1,0.5,0.5").unwrap().per_node(3).unwrap(),
            vec![Some(1.0), Some(0.5), Some(0.5)]
        );
        assert!(CpuSpec::parse("1,0.5").unwrap().per_node(3).is_err());
        assert_eq!(CpuSpec::unlimited().per_node(2).unwrap(), vec![None, None]);
        for bad in ["", "x", "0", "-1", "nan", "1,,2", "5000"] {
            assert!(CpuSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotas_are_in_microseconds_per_period() {
        assert_eq!(quota_us(Some(1.0)), Some(100_000));
        assert_eq!(quota_us(Some(0.5)), Some(50_000));
        assert_eq!(quota_us(Some(2.25)), Some(225_000));
        assert_eq!(quota_us(None), None);
    }

    #[test]
    fn cpu_lists_and_pinning() {
        assert_eq!(parse_cpu_list("0-3,6\n"), vec![0, 1, 2, 3, 6]);
        assert_eq!(
            pin(&[Some(1.0), Some(0.5), Some(0.5)], &[0, 1]),
            vec!["0", "1", "0"]
        );
        assert_eq!(pin(&[Some(2.0), None], &[0, 1]), vec!["0,1", "0,1"]);
        assert_eq!(pin(&[Some(8.0)], &[0, 1]), vec!["0,1"]);
    }
}
