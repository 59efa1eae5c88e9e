//! CSV as RFC 4180 writes it (comma, CRLF, double quotes), made safe to open in a
//! spreadsheet: a text field that a spreadsheet would read as a formula (`=`, `+`, `-`,
//! `@`, tab, carriage return) is prefixed with `'`. Sale ids and till ids come from the
//! POS, so they are treated as hostile. Numbers are written by the caller and pass as
//! they are.

/// A field of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    /// Text from outside: quoted when needed, neutralised when it looks like a formula.
    Text(&'a str),
    /// A number the dashboard wrote itself (`-12.50`, `3`).
    Number(&'a str),
}

/// Appends one row, ended by CRLF.
pub(crate) fn row(out: &mut String, fields: &[Field<'_>]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match *field {
            Field::Number(n) => out.push_str(n),
            Field::Text(t) => text(out, t),
        }
    }
    out.push_str("\r\n");
}

fn text(out: &mut String, t: &str) {
    let formula = t.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || t.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in t.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// Reads back rows written by [`row`] (for tests and the browser test's checks).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        let mut out = String::new();
        row(
            &mut out,
            &[
                Field::Text("S-1"),
                Field::Number("-12.50"),
                Field::Text("a,b"),
            ],
        );
        row(
            &mut out,
            &[
                Field::Text("=HYPERLINK(\"x\")"),
                Field::Text("say \"hi\"\nbye"),
            ],
        );
        row(
            &mut out,
            &[
                Field::Text("-1+1"),
                Field::Text("@SUM(A1)"),
                Field::Text(""),
            ],
        );
        assert_eq!(
            out,
            "S-1,-12.50,\"a,b\"\r\n\
             \"'=HYPERLINK(\"\"x\"\")\",\"say \"\"hi\"\"\nbye\"\r\n\
             \"'-1+1\",\"'@SUM(A1)\",\r\n"
        );
        assert_eq!(
            parse(&out),
            vec![
                vec!["S-1", "-12.50", "a,b"],
                vec!["'=HYPERLINK(\"x\")", "say \"hi\"\nbye"],
                vec!["'-1+1", "'@SUM(A1)", ""],
            ]
        );
    }
}
