//! Unit tests of `render.rs`.

use super::*;

/// An example's snapshot and report.
fn example(text: &str) -> (crate::model::Snapshot, Report) {
    let snapshot = crate::snapshot::parse_snapshot(text, "example").unwrap();
    let report = crate::engine::diagnose(&snapshot, &crate::engine::Filter::default()).unwrap();
    (snapshot, report)
}

/// Uncoloured, with headers, no NAMESPACE column.
fn options(snapshot: &crate::model::Snapshot, format: OutputFormat, width: Option<usize>) -> RenderOptions {
    RenderOptions {
        format,
        color: false,
        no_headers: false,
        namespace_column: false,
        context_column: false,
        summary: false,
        now: snapshot.now,
        width,
    }
}

#[test]
fn shortens_revisions_like_flux() {
    assert_eq!(short_revision("main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"), "main@sha1:1a2b3c4d");
    assert_eq!(short_revision("v1.2.3"), "v1.2.3");
    assert_eq!(short_revision("latest@sha256:abc"), "latest@sha256:abc");
}

#[test]
fn truncates_long_messages() {
    assert_eq!(truncate("short", 10), "short");
    assert_eq!(truncate("a long message here", 10), "a long ...");
    assert_eq!(truncate("abc", 0), "");
}

#[test]
fn a_terminal_of_80_columns_gets_rows_of_at_most_80() {
    let (snapshot, report) = example(include_str!("../../examples/failed-migration.yaml"));
    let options = |width| options(&snapshot, OutputFormat::Table, width);
    let table = render(&report, &options(Some(80))).unwrap();
    let rows: Vec<&str> = table.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows.iter().all(|l| l.chars().count() <= 80), "{table}");
    // MESSAGE takes the rest of the line: cut at 80, whole at 200 and when piped.
    let blocked = "blocked by app-pre-deploy: Pod/db-migration-grq6n exit code 3 (Error)";
    assert!(!table.contains(blocked), "{table}");
    for wide_or_piped in [Some(200), None] {
        let table = render(&report, &options(wide_or_piped)).unwrap();
        assert!(table.lines().nth(2).unwrap().ends_with(blocked), "{table}");
    }
}

#[test]
fn message_is_the_diagnosis_and_wide_adds_the_flux_message() {
    let (snapshot, report) = example(include_str!("../../examples/missing-dependency.yaml"));
    let options = |format| options(&snapshot, format, None);
    // Flux's message on app-deploy names the Ready app-pre-deploy; the cause is app-database.
    let stale = "dependency 'shop/app-pre-deploy' is not ready";
    let table = render(&report, &options(OutputFormat::Table)).unwrap();
    let row = table.lines().find(|l| l.starts_with("app-deploy")).unwrap();
    assert!(row.ends_with("blocked by app-database: not found") && !table.contains(stale), "{table}");
    let wide = render(&report, &options(OutputFormat::Wide)).unwrap();
    let header: Vec<&str> =
        wide.lines().next().unwrap().split("   ").map(str::trim).filter(|h| !h.is_empty()).collect();
    assert_eq!(header.last(), Some(&"FLUX MESSAGE"), "{wide}");
    assert_eq!(header[header.len() - 2], "MESSAGE", "{wide}");
    let row = wide.lines().find(|l| l.starts_with("app-deploy")).unwrap();
    assert!(row.contains("blocked by app-database: not found") && row.ends_with(stale), "{wide}");
    // A Ready stage keeps Flux's message in MESSAGE.
    let row = table.lines().find(|l| l.starts_with("app-pre-deploy")).unwrap();
    assert!(row.contains("Applied revision: main@sha1:b09241b4f4c3a66d1b6212b264a1a81fc9cd7276"), "{table}");
}

#[test]
fn every_field_with_cluster_text_is_printed_inert() {
    let (snapshot, mut report) = example(include_str!("../../examples/failed-migration.yaml"));
    const HOSTILE: &str = "\x1b[2J\x1b]0;t\x07\r\n";
    let stage = report.stages.iter_mut().find(|s| s.root_cause.is_some()).unwrap();
    stage.ready.as_mut().unwrap().message = format!("ready {HOSTILE}");
    stage.ready_exprs.clear();
    stage.depends_on = vec![StageId::kustomization("shop", format!("dep{HOSTILE}"))];
    stage.source = Some(ObjectRef::new("GitRepository", "shop", format!("src{HOSTILE}")));
    stage.hint = Some(format!("hint {HOSTILE}"));
    let cause = stage.root_cause.as_mut().unwrap();
    cause.message = format!("message {HOSTILE}");
    cause.reason = crate::report::Reason::from(format!("Reason{HOSTILE}"));
    cause.container = Some(format!("container{HOSTILE}"));
    cause.logs = Some(vec![format!("log {HOSTILE}")]);
    cause.events = vec![format!("Event: {HOSTILE}")];
    report.warnings = vec![format!("warning {HOSTILE}")];
    for format in [OutputFormat::Table, OutputFormat::Wide] {
        let text = render(&report, &options(&snapshot, format, None)).unwrap();
        assert!(!text.contains(['\x1b', '\x07', '\r']), "{text}");
        // Flux's message (-o wide) is the condition's first line; the other fields are whole.
        if format == OutputFormat::Wide {
            assert!(text.contains("ready ^[[2J^[]0;t^G\n"), "{text}");
        }
        for field in ["message ", "Reason", "container", "log ", "Event: ", "hint ", "warning "] {
            assert!(text.contains(&format!("{field}^[[2J^[]0;t^G\\r\\n")), "{field} is not inert:\n{text}");
        }
        if format == OutputFormat::Wide {
            assert!(text.contains("dep^[[2J") && text.contains("src^[[2J"), "{text}");
        }
    }
}

/// The table as a terminal of `width` columns shows it, against `tests/golden/NAME` (`UPDATE_GOLDEN=1`
/// rewrites it).
fn at_terminal_golden(name: &str, report: &Report, options: &RenderOptions) {
    let table = render(report, options).unwrap();
    let width = options.width.unwrap();
    let rows: Vec<&str> = table.lines().take_while(|l| !l.is_empty()).collect();
    assert!(rows.iter().all(|l| l.chars().count() <= width), "wider than {width}:\n{table}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &table).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(expected == table, "{name} differs (UPDATE_GOLDEN=1 rewrites it)\n{table}");
}

#[test]
fn namespace_shows_only_when_stages_of_several_namespaces_are_shown_and_the_table_fits() {
    let (snapshot, report) = example(include_str!("../../examples/failed-migration.yaml"));
    // As with -A or a dump: every namespace may be shown, but these stages are all in one.
    let all = |width| RenderOptions { namespace_column: true, ..options(&snapshot, OutputFormat::Table, width) };
    let piped = render(&report, &all(None)).unwrap();
    assert!(piped.starts_with("STAGE "), "{piped}");
    at_terminal_golden("failed-migration.80.txt", &report, &all(Some(80)));
    at_terminal_golden("failed-migration.120.txt", &report, &all(Some(120)));
    let mut two = report.clone();
    two.stages[2].namespace = "billing".into();
    let table = render(&two, &all(None)).unwrap();
    assert!(table.starts_with("NAMESPACE "), "{table}");
    // One namespace asked for (-n): never the column.
    let one = RenderOptions { namespace_column: false, ..all(None) };
    assert!(render(&two, &one).unwrap().starts_with("STAGE "));
}
