//! SQL identifiers: quoting, and renaming one column inside an index definition.

/// `name` as a SQL identifier, quoted when PostgreSQL's `quote_ident` would quote it.
pub fn quote(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !is_reserved(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The few reserved keywords a column of a vector table plausibly carries (the rest are quoted
/// anyway when they contain capitals or punctuation).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "all"
            | "and"
            | "any"
            | "array"
            | "as"
            | "asc"
            | "both"
            | "case"
            | "cast"
            | "check"
            | "column"
            | "constraint"
            | "default"
            | "desc"
            | "distinct"
            | "do"
            | "else"
            | "end"
            | "for"
            | "from"
            | "group"
            | "in"
            | "into"
            | "limit"
            | "not"
            | "null"
            | "on"
            | "or"
            | "order"
            | "select"
            | "table"
            | "then"
            | "to"
            | "union"
            | "user"
            | "using"
            | "when"
            | "where"
            | "with"
    )
}

/// `schema.name`, each part quoted as needed.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote(schema), quote(name))
}

/// Replaces every reference to column `from` in `sql` (an index key, expression or predicate as
/// `pg_get_indexdef` prints it) by column `to`: identifier tokens equal to `from` that are not
/// part of a qualified name (`x.from`, `from.x`) and not a function name (`from(`). String
/// literals and other identifiers are left alone.
pub fn rename_column(sql: &str, from: &str, to: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let prev_significant = |out: &String| out.trim_end().chars().last();
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // a string literal, '' escapes included
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if i + 1 < chars.len() && chars[i + 1] == '\'' {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
        } else if c == '"' || c.is_alphabetic() || c == '_' {
            let start = i;
            let name: String = if c == '"' {
                i += 1;
                let mut s = String::new();
                while i < chars.len() {
                    if chars[i] == '"' {
                        if i + 1 < chars.len() && chars[i + 1] == '"' {
                            s.push('"');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i = (i + 1).min(chars.len());
                s
            } else {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                // unquoted identifiers fold to lower case
                chars[start..i].iter().collect::<String>().to_lowercase()
            };
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next = chars.get(j).copied();
            let qualified = prev_significant(&out) == Some('.') || next == Some('.');
            if name == from && !qualified && next != Some('(') {
                out.push_str(&quote(to));
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether `sql` (as for [`rename_column`]) refers to column `column`.
pub fn mentions_column(sql: &str, column: &str) -> bool {
    rename_column(sql, column, "\u{1}") != sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_quote_ident() {
        assert_eq!(quote("embedding"), "embedding");
        assert_eq!(quote("Embedding"), "\"Embedding\"");
        assert_eq!(quote("my col"), "\"my col\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote("order"), "\"order\"");
        assert_eq!(quote("e2_x$"), "e2_x$");
        assert_eq!(quote("2x"), "\"2x\"");
    }

    #[test]
    fn renames_the_column_only() {
        assert_eq!(
            rename_column(
                "(embedding public.ruvector_l2_ops)",
                "embedding",
                "embedding_ruvector"
            ),
            "(embedding_ruvector public.ruvector_l2_ops)"
        );
        assert_eq!(
            rename_column(
                "(((public.binary_quantize(e))::bit(3)) public.bit_hamming_ops) WHERE (e IS NOT NULL AND x = 'e')",
                "e",
                "e_ruvector"
            ),
            "(((public.binary_quantize(e_ruvector))::bit(3)) public.bit_hamming_ops) WHERE (e_ruvector IS NOT NULL AND x = 'e')"
        );
        // qualified names and function names are not the column
        assert_eq!(
            rename_column("(e.e + e(x) + s.e)", "e", "n"),
            "(e.e + e(x) + s.e)"
        );
        assert_eq!(
            rename_column("(\"Emb\" ops) WHERE emb IS NULL", "Emb", "Emb_ruvector"),
            "(\"Emb_ruvector\" ops) WHERE emb IS NULL"
        );
        assert_eq!(rename_column("(Emb)", "emb", "x"), "(x)");
        assert!(mentions_column("USING ruhnsw (e ops) WHERE cat = 1", "cat"));
        assert!(!mentions_column("USING ruhnsw (e ops)", "ops_x"));
        assert_eq!(
            rename_column("('it''s e' || e)", "e", "x"),
            "('it''s e' || x)"
        );
    }
}
