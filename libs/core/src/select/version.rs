//! Versions and constraints as selection compares them: installed and requested versions packed
//! into one integer, PEP 440 specifier sets for Python and comma-separated comparisons for R and
//! Quarto.

use std::str::FromStr;

/// The most a version component may be (31 bits, so four of them and a flag fit in a `u128`).
const COMPONENT_MAX: u64 = (1 << 31) - 1;

/// A version of up to four numeric components (missing ones are zero) and whether it is a
/// pre-release, packed so that integer order is version order (a pre-release sorts just before
/// the release with the same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ver(u128);

impl Ver {
    /// Stands in for an installed version that does not parse (never compared).
    pub(crate) const PLACEHOLDER: Ver = Ver(0);

    /// Packs `parts` (each at most 2³¹−1).
    fn new(parts: [u64; 4], pre: bool) -> Ver {
        let packed = parts
            .iter()
            .fold(0u128, |acc, &p| (acc << 31) | u128::from(p));
        Ver((packed << 1) | u128::from(!pre))
    }

    /// Component `i` (0 = major).
    pub(crate) fn part(self, i: usize) -> u64 {
        // Truncation is the point: each component occupies 31 bits.
        ((self.0 >> (1 + 31 * (3 - i))) & u128::from(COMPONENT_MAX)) as u64
    }

    /// The major component.
    pub(crate) fn major(self) -> u64 {
        self.part(0)
    }

    /// The minor component.
    pub(crate) fn minor(self) -> u64 {
        self.part(1)
    }

    /// The same numbers, as a release.
    fn release(self) -> Ver {
        Ver(self.0 | 1)
    }

    /// Whether the first `n` components equal `other`'s.
    fn same_prefix(self, other: Ver, n: usize) -> bool {
        (0..n).all(|i| self.part(i) == other.part(i))
    }
}

/// Splits `s` into 1–4 numeric components; `None` if it is anything else.
fn numeric_parts(s: &str) -> Option<([u64; 4], usize)> {
    let mut parts = [0u64; 4];
    let mut n = 0;
    for piece in s.split('.') {
        if n == 4 || piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[n] = piece.parse::<u64>().ok().filter(|&p| p <= COMPONENT_MAX)?;
        n += 1;
    }
    Some((parts, n))
}

/// Parses a version the content asks for: 1–4 numeric components (`4`, `4.4`, `3.11.9`).
pub(crate) fn parse_requested(s: &str) -> Result<Ver, String> {
    match numeric_parts(s.trim()) {
        Some((parts, _)) => Ok(Ver::new(parts, false)),
        None => Err(format!(
            "\"{s}\" is not a version: use 1 to 4 numeric components such as 4.4.2"
        )),
    }
}

/// Parses an installed version: 1–4 numeric components, then optionally a pre-release
/// (`-rc.1`, `rc1`, `.dev0`) or build metadata (`+build`, ignored). `None` when it is none of these.
pub(crate) fn parse_installed(s: &str) -> Option<Ver> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (numbers, rest) = s.split_at(end);
    // "3.13.0.dev0": the dot before the pre-release tag belongs to the tag.
    let numbers = if rest.is_empty() {
        numbers
    } else {
        numbers.strip_suffix('.').unwrap_or(numbers)
    };
    let (parts, _) = numeric_parts(numbers)?;
    let pre = !(rest.is_empty() || rest.starts_with('+'));
    Some(Ver::new(parts, pre))
}

/// A constraint on the versions of one language.
#[derive(Debug, Clone)]
pub(crate) enum Constraint {
    /// A PEP 440 specifier set (Python).
    Pep440(pep440_rs::VersionSpecifiers),
    /// Comma-separated comparisons (R, Quarto).
    Comparisons(Vec<Comparison>),
}

impl Constraint {
    /// Parses a Python `requires` (PEP 440).
    pub(crate) fn parse_pep440(s: &str) -> Result<Constraint, String> {
        pep440_rs::VersionSpecifiers::from_str(s.trim())
            .map(Constraint::Pep440)
            .map_err(|e| {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default().to_owned();
                format!(
                    "\"{s}\" is not a PEP 440 specifier set ({first}); write e.g. >=3.8,<4 or ~=3.11.0"
                )
            })
    }

    /// Parses an R or Quarto `requires`: comparisons separated by commas.
    pub(crate) fn parse_comparisons(s: &str) -> Result<Constraint, String> {
        s.split(',')
            .map(|clause| Comparison::parse(clause.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Constraint::Comparisons)
            .map_err(|problem| {
                format!(
                    "\"{s}\" is not a version constraint: {problem}; write comparisons separated by commas, e.g. >= 4.1, < 5"
                )
            })
    }

    /// Whether an installed version satisfies the constraint. `pep440` is the installed version
    /// as PEP 440 reads it (for Python); without it a PEP 440 constraint is never satisfied.
    pub(crate) fn contains(&self, version: Ver, pep440: Option<&pep440_rs::Version>) -> bool {
        match self {
            Constraint::Pep440(specifiers) => pep440.is_some_and(|v| specifiers.contains(v)),
            Constraint::Comparisons(all) => all.iter().all(|c| c.contains(version)),
        }
    }
}

/// One comparison of an R or Quarto constraint: `>= 4.1`, `==4.3.*`, `~=4.4.0`.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    op: Op,
    version: Ver,
    /// How many components were written.
    len: usize,
    /// Written with a trailing `.*`.
    wildcard: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Eq,
    Le,
    Lt,
    Ne,
    Compatible,
}

impl Comparison {
    fn parse(clause: &str) -> Result<Comparison, String> {
        const OPS: [(&str, Op); 7] = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("~=", Op::Compatible),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        if clause.is_empty() {
            return Err("a comparison is empty".to_owned());
        }
        let Some((op, rest)) = OPS
            .iter()
            .find_map(|(text, op)| clause.strip_prefix(text).map(|rest| (*op, rest.trim())))
        else {
            return Err(format!(
                "\"{clause}\" does not start with one of >=, >, ==, <=, <, !=, ~="
            ));
        };
        let (number, wildcard) = match rest.strip_suffix(".*") {
            Some(number) => (number, true),
            None => (rest, false),
        };
        let Some((parts, len)) = numeric_parts(number) else {
            return Err(format!(
                "\"{rest}\" in \"{clause}\" is not a version of 1 to 4 numeric components"
            ));
        };
        if wildcard && !matches!(op, Op::Eq | Op::Ne) {
            return Err(format!(
                "\"{clause}\": a trailing .* is allowed only with == and !="
            ));
        }
        if op == Op::Compatible && len < 2 {
            return Err(format!(
                "\"{clause}\": ~= needs at least two components (~=4.4 or ~=4.4.0)"
            ));
        }
        Ok(Comparison {
            op,
            version: Ver::new(parts, false),
            len,
            wildcard,
        })
    }

    fn contains(&self, v: Ver) -> bool {
        let want = self.version;
        match self.op {
            Op::Eq if self.wildcard => v.same_prefix(want, self.len),
            Op::Ne if self.wildcard => !v.same_prefix(want, self.len),
            Op::Eq => v == want,
            Op::Ne => v != want,
            Op::Ge => v >= want,
            Op::Gt => v > want,
            Op::Le => v <= want,
            Op::Lt => v < want,
            Op::Compatible => v >= want && v.release().same_prefix(want, self.len - 1),
        }
    }
}
