//! Checks that documentation tables describe the code as it is.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn read(rel: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// `docs/hypercalls.md`: a hypercall is `yes`/`partial` exactly when
    /// `hyp/src/xen/hypercall.rs`'s table has a handler for it.
    #[test]
    fn docs_hypercall_table_matches_the_code() {
        let doc = read("docs/hypercalls.md");
        let mut documented = BTreeSet::new();
        let mut listed = BTreeSet::new();
        for line in doc.lines().filter(|l| l.starts_with("| `__HYPERVISOR_")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            let status = cells[3];
            assert!(
                ["yes", "partial", "no"].contains(&status),
                "docs/hypercalls.md: status of {name} must be yes, partial or no, not {status:?}"
            );
            listed.insert(name.clone());
            if status != "no" {
                documented.insert(name);
            }
        }
        let code = read("hyp/src/xen/hypercall.rs");
        let table = code
            .split("const HYPERCALLS")
            .nth(1)
            .and_then(|t| t.split("];").next())
            .expect("hyp/src/xen/hypercall.rs has a HYPERCALLS table");
        // Every `__HYPERVISOR_*` name in the table (rustfmt may split an entry over lines).
        let implemented: BTreeSet<String> = table
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("__HYPERVISOR_"))
            .map(str::to_string)
            .collect();
        assert!(!implemented.is_empty(), "no hypercalls found in the table");
        for n in &implemented {
            assert!(
                listed.contains(n),
                "{n} is implemented but missing from docs/hypercalls.md"
            );
        }
        assert_eq!(
            documented, implemented,
            "docs/hypercalls.md (yes/partial) and hyp/src/xen/hypercall.rs disagree"
        );
    }
}
