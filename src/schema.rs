//! JSON Schemas of the documents the plugin prints, from its own types (`mcp` lists them as its
//! tools' output schemas): the types that print as one string say so here.

/// A type serialized as one string: its schema is a string, described.
macro_rules! text_schema {
    ($type:ty, $description:literal) => {
        impl schemars::JsonSchema for $type {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($type).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "description": $description})
            }
        }
    };
}

pub(crate) use text_schema;
