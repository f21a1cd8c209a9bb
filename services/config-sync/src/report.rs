//! Human-readable reports for the command line: a plan like `terraform plan`, and problems one
//! per line.

use std::fmt::Write;

use execenv_proto::registry::v1 as reg;

/// A plan (a dry run's report) of `origin` against `registry`, one line per touched environment,
/// then the totals.
pub fn render_plan(plan: &reg::ApplyManagedSetResponse, origin: &str, registry: &str) -> String {
    let mut out = format!(
        "Plan of {origin} against the registry at {registry} (revision {}):\n",
        plan.revision
    );
    let sections: [(&str, &str, &[reg::PlannedChange]); 4] = [
        ("+", "create", &plan.created),
        ("~", "adopt", &plan.adopted),
        ("~", "update", &plan.updated),
        ("-", "delete", &plan.deleted),
    ];
    for (mark, verb, list) in sections {
        for c in list {
            // Writing into a String cannot fail.
            let _ = write!(out, "  {mark} {verb:<6} {}", c.name);
            if !c.guid.is_empty() {
                let _ = write!(out, "  ({})", c.guid);
            }
            if !c.changed_fields.is_empty() {
                let _ = write!(out, "  changes: {}", c.changed_fields.join(", "));
            }
            out.push('\n');
        }
    }
    let changes = plan.created.len() + plan.adopted.len() + plan.updated.len() + plan.deleted.len();
    if changes == 0 {
        out.push_str("  No changes: the registry already matches the file.\n");
    }
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to adopt, {} to update, {} to delete, {} unchanged.",
        plan.created.len(),
        plan.adopted.len(),
        plan.updated.len(),
        plan.deleted.len(),
        plan.unchanged.len()
    );
    out
}

/// `N problem(s) in ORIGIN:` and then every problem on its own line.
pub fn render_problems(origin: &str, problems: &[String]) -> String {
    let n = problems.len();
    let mut out = format!(
        "{n} problem{} in {origin}:\n",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(p);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(guid: &str, name: &str, fields: &[&str]) -> reg::PlannedChange {
        reg::PlannedChange {
            guid: guid.to_owned(),
            name: name.to_owned(),
            changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn plan_lists_each_change_with_its_fields_and_the_totals() {
        let plan = reg::ApplyManagedSetResponse {
            created: vec![change("g1", "ghcr.io/a/new:1", &[])],
            adopted: vec![change("g2", "ghcr.io/a/hand:1", &["managed_by", "title"])],
            updated: vec![change("g3", "ghcr.io/a/old:1", &["python"])],
            deleted: vec![change("g4", "ghcr.io/a/gone:1", &[])],
            unchanged: vec!["g5".to_owned(), "g6".to_owned()],
            revision: 42,
            dry_run: true,
        };
        let text = render_plan(&plan, "environments.yaml", "http://127.0.0.1:50051");
        assert_eq!(
            text,
            "Plan of environments.yaml against the registry at http://127.0.0.1:50051 (revision 42):\n\
             \x20 + create ghcr.io/a/new:1  (g1)\n\
             \x20 ~ adopt  ghcr.io/a/hand:1  (g2)  changes: managed_by, title\n\
             \x20 ~ update ghcr.io/a/old:1  (g3)  changes: python\n\
             \x20 - delete ghcr.io/a/gone:1  (g4)\n\
             Plan: 1 to create, 1 to adopt, 1 to update, 1 to delete, 2 unchanged.\n"
        );
    }

    #[test]
    fn an_empty_plan_says_there_are_no_changes() {
        let plan = reg::ApplyManagedSetResponse {
            unchanged: vec!["g".to_owned()],
            ..Default::default()
        };
        let text = render_plan(&plan, "e.yaml", "r");
        assert!(text.contains("No changes"));
        assert!(text.ends_with("0 to delete, 1 unchanged.\n"));
    }

    #[test]
    fn problems_are_one_per_line_after_a_count() {
        let text = render_problems("e.yaml", &["a: x".to_owned(), "b: y".to_owned()]);
        assert_eq!(text, "2 problems in e.yaml:\na: x\nb: y\n");
    }
}
