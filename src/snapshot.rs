//! Offline snapshots: what `kubectl get kustomizations,gitrepositories,... -A -o yaml|json` prints
//! (a v1 `List`, a single object, or multi-document YAML), read into a [`Snapshot`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use serde_json::value::RawValue;

use std::collections::HashSet;

mod items;

use crate::engine::named_objects::named_elsewhere;
use crate::model::{NamedObject, READ_KINDS, ReadKind, Snapshot, read_kind};
use crate::vocabulary::Kind;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json { path: String, line: usize, column: usize, message: String },
    #[error("{path}: not valid YAML: {message}")]
    Yaml { path: String, message: String },
    #[error("{path}: item {index} ({what}) is malformed: {message}")]
    Object { path: String, index: usize, what: String, message: String },
    #[error(
        "{path}: expected Kubernetes objects or a v1 List (as printed by `kubectl get ... -o yaml`), found {found}"
    )]
    NotObjects { path: String, found: String },
    #[error("{path} is empty: the capture that made it failed or wrote nothing; capture it again")]
    Empty { path: String },
}

/// Reads a snapshot file, or standard input when `path` is `-`. JSON is streamed item by item (the
/// file is never held in memory whole); YAML is read whole.
pub(crate) fn read_snapshot(path: &Path) -> Result<Snapshot, SnapshotError> {
    let name = path.display().to_string();
    let label = if name == "-" { "<stdin>".to_string() } else { name.clone() };
    let io_error = |source| SnapshotError::Io { path: label.clone(), source };
    let input: Box<dyn Read> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(io_error)?)
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let first = loop {
        let buf = reader.fill_buf().map_err(io_error)?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => break Some(buf[at]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    match first {
        None => return Err(SnapshotError::Empty { path: label }),
        // A file can be read again: a List is cut into its items first, and anything else, or
        // any error, is read by the streaming parser from the start.
        Some(b'{') if name != "-" => {
            if let Ok(snapshot) = read_list(reader, &label) {
                return Ok(snapshot);
            }
            let again = BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io_error)?);
            return read_json(serde_json::Deserializer::from_reader(again), &label);
        }
        Some(b'{' | b'[') => return read_json(serde_json::Deserializer::from_reader(reader), &label),
        Some(_) => {}
    }
    let text = std::io::read_to_string(reader).map_err(io_error)?;
    parse_snapshot(&text, &label)
}

/// Parses snapshot text; `label` names the input in error messages.
pub(crate) fn parse_snapshot(text: &str, label: &str) -> Result<Snapshot, SnapshotError> {
    if text.trim_start().starts_with(['{', '[']) {
        return read_json(serde_json::Deserializer::from_str(text), label);
    }
    // YAML 1.2 booleans: `n` or `on` stay strings. Kubernetes tooling quotes such values anyway, and
    // the budget is off because dumps of large clusters are legitimately big.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.budget = None;
    let documents = serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .map_err(|e| SnapshotError::Yaml { path: label.to_string(), message: e.to_string() })?;
    let mut sink = Sink::new(label);
    for doc in documents {
        newest_timestamp(&doc, &mut sink.newest);
        sink.value(doc)?;
    }
    Ok(sink.finish())
}

/// JSON, as kubectl prints it (one object or List; several concatenated documents are accepted):
/// every item is decoded on its own, straight from its text into its type, so memory holds the
/// decoded objects and one item's text, never the whole input or a tree of values.
fn read_json<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    label: &str,
) -> Result<Snapshot, SnapshotError> {
    let mut sink = Sink::new(label);
    let json_error = |e: serde_json::Error| SnapshotError::Json {
        path: label.to_string(),
        line: e.line(),
        column: e.column(),
        message: strip_serde_position(&e.to_string()),
    };
    loop {
        let parsed = serde::de::DeserializeSeed::deserialize(Document(&mut sink), &mut de);
        if let Some(failure) = sink.failure.take() {
            return Err(failure);
        }
        parsed.map_err(json_error)?;
        // Another document follows unless only whitespace is left.
        if de.end().is_ok() {
            return Ok(sink.finish());
        }
    }
}

/// A JSON List, each item parsed from its own text ([`items`]). Decoding is most of the time and
/// nothing else runs offline: this thread cuts the items into batches and [`DECODERS`] threads
/// decode them, each batch into a sink of its own, merged in the file's order.
fn read_list(input: impl Read, label: &str) -> Result<Snapshot, items::Unsplit> {
    /// One batch: the items' texts back to back, and where each ends.
    type Batch = (usize, String, Vec<usize>);
    let (batches, queue) = std::sync::mpsc::sync_channel::<Batch>(DECODERS);
    let queue = std::sync::Mutex::new(queue);
    let (done, decoded) = std::sync::mpsc::channel::<(usize, Result<Sink, items::Unsplit>)>();
    std::thread::scope(|scope| {
        for _ in 0..DECODERS {
            let (queue, done) = (&queue, done.clone());
            scope.spawn(move || {
                loop {
                    let next =
                        queue.lock().map_err(|_| items::Unsplit).and_then(|q| q.recv().map_err(|_| items::Unsplit));
                    let Ok((at, text, ends)) = next else { return };
                    let mut sink = Sink::new(label);
                    let mut start = 0;
                    let result = ends
                        .iter()
                        .try_for_each(|&end| {
                            let item = &text[start..end];
                            start = end;
                            // An object's text is checked whole where its head is parsed; anything else here.
                            if !item.starts_with('{') {
                                serde_json::from_str::<&RawValue>(item).map_err(|_| items::Unsplit)?;
                            }
                            sink.raw(item).map_err(|_| items::Unsplit)
                        })
                        .map(|()| sink);
                    if done.send((at, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        let mut batch: Batch = (0, String::new(), Vec::new());
        let cut = items::each_item(input, |item| {
            batch.1.push_str(item);
            batch.2.push(batch.1.len());
            if batch.1.len() >= BATCH_BYTES {
                let next = (batch.0 + 1, String::with_capacity(BATCH_BYTES * 2), Vec::new());
                batches.send(std::mem::replace(&mut batch, next)).map_err(|_| items::Unsplit)?;
            }
            Ok(())
        });
        let last = cut.and_then(|()| batches.send(batch).map_err(|_| items::Unsplit));
        drop(batches);
        let mut parts: Vec<(usize, Result<Sink, items::Unsplit>)> = decoded.iter().collect();
        last?;
        parts.sort_by_key(|(at, _)| *at);
        let mut sink = Sink::new(label);
        for (_, part) in parts {
            sink.absorb(part?);
        }
        Ok(sink.finish())
    })
}

/// The threads that decode a JSON List's items, and how much text each batch holds.
const DECODERS: usize = 2;
const BATCH_BYTES: usize = 1 << 18;

/// Where decoded objects go; a failure that is not JSON syntax is kept here while serde unwinds.
struct Sink<'l> {
    snapshot: Snapshot,
    index: usize,
    label: &'l str,
    failure: Option<SnapshotError>,
    /// The kinds `status` reads that the dump holds objects of (kept or not).
    seen: HashSet<&'static str>,
    /// Objects of other kinds that have conditions: kept at the end only if a stage names them.
    others: Vec<NamedObject>,
    /// The newest timestamp in the dump: the time it was taken.
    newest: Option<Timestamp>,
}

impl<'l> Sink<'l> {
    fn new(label: &'l str) -> Self {
        Sink {
            snapshot: Snapshot::default(),
            index: 0,
            label,
            failure: None,
            seen: HashSet::new(),
            others: Vec::new(),
            newest: None,
        }
    }

    /// Adds what a sink of a later part of the same input holds.
    fn absorb(&mut self, later: Sink) {
        self.snapshot.merge(later.snapshot);
        self.index += later.index;
        self.seen.extend(later.seen);
        self.others.extend(later.others);
        self.newest = self.newest.max(later.newest);
    }

    /// The snapshot, with the captured kinds the dump holds nothing of.
    fn finish(mut self) -> Snapshot {
        // A dump without a single timestamp reads as taken now (the reader's clock, never the engine's).
        self.snapshot.now = self.newest.unwrap_or_else(Timestamp::now);
        let lacking = READ_KINDS.iter().filter(|k| k.captured && !self.seen.contains(k.api.plural));
        self.snapshot.dump_lacks = lacking.map(|k| k.api.plural).collect();
        // An operator's custom resources, kept when a stage's health check or inventory names them
        // (so a dump of `-A` custom resources costs nothing extra).
        let named = named_elsewhere(&self.snapshot);
        let inventories: std::collections::HashSet<(String, String, String, String)> = self
            .snapshot
            .stages()
            .flat_map(|s| s.inventory().map(|i| i.entries.as_slice()).unwrap_or_default())
            .filter_map(|e| crate::model::parse_inventory_id(&e.id))
            .collect();
        let wanted = |o: &NamedObject| {
            let group = o.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default().to_string();
            let id = (o.metadata.namespace.clone().unwrap_or_default(), o.metadata.name.clone().unwrap_or_default());
            named.iter().any(|(r, _)| *r == o.object_ref())
                || inventories.contains(&(id.0, id.1, group, o.kind.to_string()))
        };
        self.snapshot.named_objects = self.others.into_iter().filter(wanted).collect();
        self.snapshot
    }

    /// Adds one object to the snapshot if its kind is one `status` reads ([`READ_KINDS`]).
    fn add(&mut self, api_version: &str, kind: &str, object: impl Decode) -> Result<(), serde_json::Error> {
        match read_kind(api_version, kind) {
            Some(kind) => {
                self.seen.insert(kind.api.plural);
                object.decode_into(kind, &mut self.snapshot)
            }
            // Other kinds matter only if a stage names them; those with conditions are held until
            // the end says which.
            // (one whose status does not read as conditions is no such object, and no error).
            None => {
                if let Ok(other) = object.decode_other()
                    && !other.status.conditions.is_empty()
                {
                    self.others.push(NamedObject {
                        kind: Kind::from(kind),
                        api_version: api_version.to_string(),
                        ..other
                    });
                }
                Ok(())
            }
        }
    }
}

impl Sink<'_> {
    /// One item from its JSON text, which the parser checked (or [`read_list`] did).
    fn raw(&mut self, text: &str) -> Result<(), SnapshotError> {
        newest_in_text(text, &mut self.newest);
        if !text.starts_with('{') {
            let value: Value = serde_json::from_str(text).expect("valid JSON, checked by the parser");
            return self.value(value);
        }
        // An object of a kind `status` reads is checked whole by its decoding; the head is parsed
        // whole only to say what is wrong with one that does not decode.
        if let Some((api_version, kind)) = leading_kind(text).filter(|(a, k)| read_kind(a, k).is_some()) {
            self.index += 1;
            if self.add(&api_version, &kind, text).is_ok() {
                return Ok(());
            }
            self.index -= 1;
        }
        let head: Head =
            serde_json::from_str(text).map_err(|e| malformed(self.label, self.index + 1, "object", None, e))?;
        if head.kind.is_empty() {
            return Err(self.not_objects("an object without `kind`".into()));
        }
        if head.kind.ends_with("List") {
            // A List inside a List: rare enough to take the slow path.
            return self.value(serde_json::from_str(text).expect("valid JSON, checked by the parser"));
        }
        self.index += 1;
        self.add(&head.api_version, &head.kind, text).map_err(|e| {
            malformed(self.label, self.index, &head.kind, head.metadata.as_ref().and_then(HeadMeta::id), e)
        })
    }

    /// One document or item as a value (YAML, or a single JSON object).
    fn value(&mut self, doc: Value) -> Result<(), SnapshotError> {
        let obj = match doc {
            Value::Null => return Ok(()), // an empty YAML document
            Value::Object(obj) => obj,
            Value::Array(items) => return items.into_iter().try_for_each(|item| self.value(item)),
            other => return Err(self.not_objects(describe(&other))),
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(Value::Array(_)) = obj.get("items") {
            if let Some(Value::Array(items)) = obj.into_iter().find(|(k, _)| k == "items").map(|(_, v)| v) {
                return items.into_iter().try_for_each(|item| self.value(item));
            }
            return Ok(());
        }
        if kind.is_empty() {
            return Err(self.not_objects("an object without `kind`".into()));
        }
        self.index += 1;
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let id = obj
            .get("metadata")
            .and_then(|m| Some(format!("{}/{}", m.get("namespace")?.as_str()?, m.get("name")?.as_str()?)));
        self.add(&api_version, &kind, Value::Object(obj)).map_err(|e| malformed(self.label, self.index, &kind, id, e))
    }

    fn not_objects(&self, found: String) -> SnapshotError {
        SnapshotError::NotObjects { path: self.label.to_string(), found }
    }

    /// Records a failure and returns the serde error that stops the parser.
    fn fail<E: serde::de::Error>(&mut self, failure: SnapshotError) -> E {
        self.failure = Some(failure);
        E::custom("stopped")
    }
}

/// One top-level JSON document: a List (its items streamed), an array, or a single object.
struct Document<'s, 'l>(&'s mut Sink<'l>);

impl<'de> serde::de::DeserializeSeed<'de> for Document<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Kubernetes objects or a v1 List")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = serde_json::Map::new();
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(Items(&mut *self.0))?;
                listed = true;
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        if listed {
            return Ok(());
        }
        let object = Value::Object(rest);
        newest_timestamp(&object, &mut self.0.newest);
        self.0.value(object).map_err(|e| self.0.fail(e))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items(self.0).visit_seq(seq)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        let found = describe(&Value::String(v.to_string()));
        Err(self.0.fail(self.0.not_objects(found)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        Err(self.0.fail(self.0.not_objects(describe(&Value::from(v)))))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        Err(self.0.fail(self.0.not_objects(describe(&Value::from(v)))))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        Err(self.0.fail(self.0.not_objects(describe(&Value::from(v)))))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        Err(self.0.fail(self.0.not_objects(describe(&Value::from(v)))))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A JSON array of objects, each decoded as it is read.
struct Items<'s, 'l>(&'s mut Sink<'l>);

impl<'de> serde::de::DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.0.raw(raw.get()).map_err(|e| self.0.fail(e))?;
        }
        Ok(())
    }
}

/// The newest RFC 3339 timestamp anywhere in `value` (creation times, condition transitions, event
/// times, container start and finish times): the best estimate of when a dump was taken.
fn newest_timestamp(value: &Value, newest: &mut Option<Timestamp>) {
    match value {
        Value::String(s) => consider(s, newest),
        Value::Array(items) => items.iter().for_each(|v| newest_timestamp(v, newest)),
        Value::Object(map) => map.values().for_each(|v| newest_timestamp(v, newest)),
        _ => {}
    }
}

/// [`newest_timestamp`] over JSON text: every string that looks like a timestamp.
fn newest_in_text(text: &str, newest: &mut Option<Timestamp>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'"', &bytes[i..]) {
        let start = i + at + 1;
        if start + 20 <= bytes.len()
            && bytes[start].is_ascii_digit()
            && bytes[start + 4] == b'-'
            && let Some(len) = bytes[start..bytes.len().min(start + 36)].iter().position(|&b| b == b'"')
            && let Some(candidate) = text.get(start..start + len)
        {
            consider(candidate, newest);
        }
        i = start;
    }
}

fn consider(s: &str, newest: &mut Option<Timestamp>) {
    if looks_like_timestamp(s)
        && let Ok(t) = s.parse::<Timestamp>()
        && newest.is_none_or(|n| t > n)
    {
        *newest = Some(t);
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    (20..=35).contains(&b.len()) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[0].is_ascii_digit()
}

fn strip_serde_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// One object, from a parsed YAML value or from raw JSON text.
trait Decode {
    fn decode_into(self, kind: &ReadKind, snapshot: &mut Snapshot) -> Result<(), serde_json::Error>;
    /// An object of a kind `status` does not read, as far as kstatus reads it.
    fn decode_other(self) -> Result<NamedObject, serde_json::Error>;
}

impl Decode for Value {
    fn decode_into(self, kind: &ReadKind, snapshot: &mut Snapshot) -> Result<(), serde_json::Error> {
        kind.decode_value(snapshot, self)
    }
    fn decode_other(self) -> Result<NamedObject, serde_json::Error> {
        serde_json::from_value(self)
    }
}

impl Decode for &str {
    fn decode_into(self, kind: &ReadKind, snapshot: &mut Snapshot) -> Result<(), serde_json::Error> {
        kind.decode_text(snapshot, self)
    }
    fn decode_other(self) -> Result<NamedObject, serde_json::Error> {
        serde_json::from_str(self)
    }
}

fn malformed(label: &str, index: usize, kind: &str, id: Option<String>, e: serde_json::Error) -> SnapshotError {
    SnapshotError::Object {
        path: label.to_string(),
        index,
        what: format!("{kind} {}", id.unwrap_or_else(|| "<unnamed>".into())),
        message: e.to_string(),
    }
}

/// `apiVersion` and `kind` of an object's text, the rest not read when they come first (as
/// kubectl prints them): the parse is stopped once both are known.
fn leading_kind(text: &str) -> Option<(String, String)> {
    struct Leading<'o>(&'o mut Option<(String, String)>);
    impl<'de> serde::de::Visitor<'de> for Leading<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let (mut api_version, mut kind) = (None, None);
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "apiVersion" => api_version = Some(map.next_value::<String>()?),
                    "kind" => kind = Some(map.next_value::<String>()?),
                    _ => map.next_value::<serde::de::IgnoredAny>().map(drop)?,
                }
                if let (Some(a), Some(k)) = (&api_version, &kind) {
                    *self.0 = Some((a.clone(), k.clone()));
                    return Err(serde::de::Error::custom("stopped once the kind is known"));
                }
            }
            Ok(())
        }
    }
    let mut found = None;
    let _ = serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_str(text), Leading(&mut found));
    found
}

/// The fields every object starts with, read without decoding the rest.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default, rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Option<HeadMeta>,
}

#[derive(serde::Deserialize)]
struct HeadMeta {
    name: Option<String>,
    namespace: Option<String>,
}

impl HeadMeta {
    fn id(&self) -> Option<String> {
        Some(format!("{}/{}", self.namespace.as_deref()?, self.name.as_deref()?))
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the text {:?}", s.chars().take(40).collect::<String>()),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("the value {b}"),
        _ => "something else".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_yaml_list_and_skips_other_kinds() {
        let text = r#"
apiVersion: v1
kind: List
items:
- apiVersion: kustomize.toolkit.fluxcd.io/v1
  kind: Kustomization
  metadata: {name: app, namespace: shop}
  spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: app}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: x, namespace: shop}
- apiVersion: source.toolkit.fluxcd.io/v1
  kind: GitRepository
  metadata: {name: app, namespace: shop}
  status: {artifact: {revision: "main@sha1:abc"}}
"#;
        let snap = parse_snapshot(text, "t.yaml").unwrap();
        assert_eq!(snap.kustomizations.len(), 1);
        assert_eq!(snap.sources[0].kind.as_str(), "GitRepository");
        assert_eq!(snap.sources[0].artifact_revision(), Some("main@sha1:abc"));
    }

    #[test]
    fn reads_multi_document_yaml_and_json() {
        let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a, namespace: n}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\n";
        let snap = parse_snapshot(yaml, "t").unwrap();
        assert_eq!((snap.jobs.len(), snap.pods.len()), (1, 1));
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"n"}}]}"#;
        assert_eq!(parse_snapshot(json, "t").unwrap().deployments.len(), 1);
    }

    #[test]
    fn json_errors_name_file_line_and_column() {
        let err = parse_snapshot("{\n  \"kind\": \"List\",\n  \"items\": [\n}", "dump.json").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("dump.json:4:1: not valid JSON"), "{text}");
    }

    /// The diagnosis of a snapshot, as JSON text.
    fn diagnosed(snapshot: &Snapshot) -> String {
        use crate::engine::{Filter, diagnose};
        serde_json::to_string(&diagnose(snapshot, &Filter::default()).unwrap()).unwrap()
    }

    /// The objects of an example file (YAML documents or Lists), as a list.
    fn example_objects(path: &std::path::Path) -> Vec<Value> {
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple_with_options(&std::fs::read_to_string(path).unwrap(), options).unwrap();
        docs.into_iter()
            .flat_map(|d| match d.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![d],
            })
            .filter(|d| !d.is_null())
            .collect()
    }

    /// Every example as kubectl prints it with `-o json`, in a file: cut into items, it reads as
    /// the streaming parser reads it.
    #[test]
    fn a_json_list_file_is_cut_into_its_items_and_reads_the_same() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let out = std::env::temp_dir().join(format!("fluxjobs-list-{}.json", std::process::id()));
        for entry in
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        {
            let items = example_objects(&entry.path());
            let list = serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
            let text = serde_json::to_string_pretty(&list).unwrap();
            std::fs::write(&out, &text).unwrap();
            let cut = read_list(std::fs::File::open(&out).unwrap(), "t").expect("cut into items");
            assert_eq!(diagnosed(&cut), diagnosed(&parse_snapshot(&text, "t").unwrap()), "{}", entry.path().display());
            assert_eq!(diagnosed(&read_snapshot(&out).unwrap()), diagnosed(&cut));
        }
        let _ = std::fs::remove_file(out);
    }

    /// A List of many batches (each decoded on a thread of its own) reads as one stream does,
    /// in the file's order.
    #[test]
    fn a_list_of_many_batches_reads_as_the_streaming_parser_reads_it() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/failed-migration.yaml");
        let one = example_objects(&example);
        let text = serde_json::to_string(&one).unwrap();
        let copies = (4 * BATCH_BYTES).div_ceil(text.len()) + 1;
        let items: Vec<Value> = (0..copies)
            .flat_map(|c| {
                serde_json::from_str::<Vec<Value>>(&text.replace("\"shop\"", &format!("\"shop-{c}\""))).unwrap()
            })
            .collect();
        let text = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
        assert!(text.len() > 4 * BATCH_BYTES);
        let cut = read_list(text.as_bytes(), "t").expect("cut into items");
        let streamed = parse_snapshot(&text, "t").unwrap();
        let order = |s: &Snapshot| s.events.iter().map(|e| e.metadata.namespace.clone()).collect::<Vec<_>>();
        assert_eq!(order(&cut), order(&streamed));
        assert!(order(&cut).first() != order(&cut).last(), "several copies");
        assert_eq!(diagnosed(&cut), diagnosed(&streamed));
    }

    #[test]
    fn the_kind_is_read_from_the_head_of_an_object_alone() {
        let pod = |a: &str, k: &str| Some((a.to_string(), k.to_string()));
        // What follows the kind is not read: here it is not even JSON.
        assert_eq!(leading_kind(r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": oops"#), pod("v1", "Pod"));
        assert_eq!(leading_kind(r#"{"metadata": {}, "kind": "Pod", "apiVersion": "v1"}"#), pod("v1", "Pod"));
        assert_eq!(leading_kind(r#"{"kind": "Pod"}"#), None);
        assert_eq!(leading_kind(r#"{"apiVersion": "v1", "kind": 5}"#), None);
    }

    /// An error in a file the items were cut from is said as the streaming parser says it.
    #[test]
    fn errors_in_a_json_list_file_name_its_line_and_column() {
        let out = std::env::temp_dir().join(format!("fluxjobs-bad-{}.json", std::process::id()));
        for text in [
            "{\n  \"kind\": \"List\",\n  \"items\": [\n    {\"kind\": \"Pod\", \"x\": tru}\n  ]\n}",
            "{\"kind\": \"List\", \"items\": [{\"apiVersion\": \"batch/v1\", \"kind\": \"Job\", \"spec\": {\"backoffLimit\": \"lots\"}}]}",
            "{\"kind\": \"List\", \"items\": [3]}",
        ] {
            std::fs::write(&out, text).unwrap();
            let from_file = read_snapshot(&out).unwrap_err().to_string();
            let label = out.display().to_string();
            assert_eq!(from_file, parse_snapshot(text, &label).unwrap_err().to_string());
        }
        let _ = std::fs::remove_file(out);
    }

    #[test]
    fn yaml_errors_name_the_file_and_position() {
        let err = parse_snapshot("kind: List\nitems: [\n  - {a: 1\n", "dump.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("dump.yaml: not valid YAML"), "{text}");
        assert!(text.contains("line"), "{text}");
    }

    #[test]
    fn malformed_objects_are_named() {
        let text = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a, namespace: n}\nspec: {backoffLimit: lots}\n";
        let err = parse_snapshot(text, "d.yaml").unwrap_err().to_string();
        assert!(err.contains("item 1 (Job n/a) is malformed"), "{err}");
    }

    #[test]
    fn the_newest_timestamp_is_the_snapshot_time() {
        let text = r#"{"kind":"List","items":[
          {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"a","namespace":"x","creationTimestamp":"2026-01-02T03:04:05Z"}},
          {"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"x"},"involvedObject":{},
           "lastTimestamp":"2026-01-02T03:09:00Z","message":"2026-12-31T00:00:00 is not a field"}]}"#;
        let snapshot = parse_snapshot(text, "t.json").unwrap();
        assert_eq!(snapshot.now.to_string(), "2026-01-02T03:09:00Z");
    }

    #[test]
    fn scalars_are_not_snapshots() {
        let err = parse_snapshot("just some text", "d.txt").unwrap_err().to_string();
        assert!(err.contains("expected Kubernetes objects"), "{err}");
    }
}
