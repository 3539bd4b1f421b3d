//! `docs/authorization.md` shows the role table the code decides with; this test fails when
//! the two disagree. `KEYWARD_UPDATE_DOCS=1 cargo test -p keyward-iam --test authorization_doc`
//! rewrites the generated part of the document.

use std::path::PathBuf;

const BEGIN: &str =
    "<!-- BEGIN GENERATED ROLE TABLE: edit crates/iam/src/action.rs, not this table -->\n";
const END: &str = "<!-- END GENERATED ROLE TABLE -->";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/authorization.md")
}

#[test]
fn the_documented_role_table_is_the_one_in_the_code() {
    let path = doc_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let start = text
        .find(BEGIN)
        .unwrap_or_else(|| panic!("{} lacks the line {BEGIN:?}", path.display()))
        + BEGIN.len();
    let end = text[start..]
        .find(END)
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("{} lacks the line {END:?}", path.display()));
    let generated = keyward_iam::markdown_table();
    if text[start..end] == generated {
        return;
    }
    if std::env::var_os("KEYWARD_UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &text[..start], &text[end..]);
        std::fs::write(&path, updated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    panic!(
        "docs/authorization.md does not show the role table of crates/iam/src/action.rs; run \
         `KEYWARD_UPDATE_DOCS=1 cargo test -p keyward-iam --test authorization_doc` and review \
         the change.\n\nexpected:\n{generated}"
    );
}
