//! `code_enum!`: a closed set of stable snake_case codes (stored in the database, sent by the
//! API, mapped to UI text by `label_key`), shared by every domain.

#[macro_export]
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident, $prefix:literal, [$($variant:ident = $code:literal),+ $(,)?]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                let s = s.trim();
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
            pub fn label_key(self) -> String {
                format!(concat!($prefix, ".{}"), self.as_str())
            }
        }
    };
}
