//! A reader for the subset of xkeyboard-config's `symbols/` files that defines the main
//! block of a layout: sections, `include` (with `+` override and `|` augment), `key <NAME>
//! { [ levels ] }` with `symbols[Group1]=` and `type=`, and `key.type` defaults. Modifier
//! maps, actions, virtual modifiers and groups other than the first are read past.
//!
//! Merging follows xkbcommon: an included or later definition overrides the levels it
//! names and keeps the others; `augment` fills only missing levels; `replace` replaces the
//! whole key.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::keysym::{Keysyms, Sym};

/// Why a layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    /// A symbols file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file has no section of that name.
    #[error("{file} has no section {section:?}")]
    NoSection {
        /// The file name.
        file: String,
        /// The section asked for (empty: the default one).
        section: String,
    },
    /// Includes nest deeper than any real layout does.
    #[error("includes nest too deep at {0}")]
    TooDeep(String),
}

/// One key of a resolved layout: its first four levels and its key type.
#[derive(Clone, Debug, Default)]
pub struct Key {
    /// Levels 1 to 4 (base, Shift, AltGr, Shift+AltGr); `None` where nothing is defined.
    pub levels: [Option<Sym>; 4],
    /// The explicit type, if the layout names one.
    pub explicit_type: Option<String>,
}

impl Key {
    /// What level `i` (0-based) types.
    pub fn level(&self, i: usize) -> Sym {
        self.levels.get(i).copied().flatten().unwrap_or(Sym::None)
    }

    /// Whether Caps Lock selects the Shift level on this key (an alphabetic key type,
    /// explicit or as xkbcommon assigns it); otherwise Caps Lock upper-cases what the
    /// level types.
    pub fn caps_is_shift(&self) -> bool {
        if let Some(ty) = &self.explicit_type {
            return ty.contains("ALPHABETIC");
        }
        let (a, b) = (self.level(0), self.level(1));
        is_lower(a) && is_upper(b)
    }

    /// What the key types with these modifiers (Shift, Caps Lock; no AltGr).
    pub fn typed(&self, shift: bool, caps: bool) -> Sym {
        if caps && self.caps_is_shift() {
            return self.level(usize::from(!shift));
        }
        let sym = self.level(usize::from(shift));
        match sym {
            Sym::Char(c) if caps => Sym::Char(upper(c)),
            other => other,
        }
    }
}

/// The single-character upper case of `c`, or `c`.
pub fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn lower(c: char) -> char {
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn is_lower(sym: Sym) -> bool {
    matches!(sym, Sym::Char(c) if lower(c) == c && upper(c) != c)
}

fn is_upper(sym: Sym) -> bool {
    matches!(sym, Sym::Char(c) if upper(c) == c && lower(c) != c)
}

/// A resolved layout: key name (`AE01`) to key.
pub type Layout = BTreeMap<String, Key>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Merge {
    Override,
    Augment,
    Replace,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    KeyName(String),
    Punct(char),
}

fn tokenize(text: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            '"' => {
                let s: String = chars.by_ref().take_while(|&n| n != '"').collect();
                toks.push(Tok::Str(s));
            }
            '<' => {
                let s: String = chars.by_ref().take_while(|&n| n != '>').collect();
                toks.push(Tok::KeyName(s));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Word(word));
            }
            c => toks.push(Tok::Punct(c)),
        }
    }
    toks
}

/// Reads layouts from a `symbols/` directory, caching parsed files.
pub struct Symbols<'k> {
    dir: PathBuf,
    keysyms: &'k Keysyms,
    files: BTreeMap<String, Vec<Section>>,
}

struct Section {
    name: String,
    default: bool,
    body: Vec<Tok>,
}

fn split_sections(toks: Vec<Tok>) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut i = 0;
    let mut flags_start = 0;
    while i < toks.len() {
        if toks[i] == Tok::Word("xkb_symbols".into()) {
            let default = toks[flags_start..i].contains(&Tok::Word("default".into()));
            let name = match toks.get(i + 1) {
                Some(Tok::Str(s)) => s.clone(),
                _ => String::new(),
            };
            // Find the body between the matching braces.
            let mut j = i + 1;
            while j < toks.len() && toks[j] != Tok::Punct('{') {
                j += 1;
            }
            let start = j + 1;
            let mut depth = 0usize;
            while j < toks.len() {
                match toks[j] {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let body = toks.get(start..j).map(<[Tok]>::to_vec).unwrap_or_default();
            sections.push(Section {
                name,
                default,
                body,
            });
            i = j + 1;
            // Skip the closing `;`.
            if toks.get(i) == Some(&Tok::Punct(';')) {
                i += 1;
            }
            flags_start = i;
        } else {
            i += 1;
        }
    }
    sections
}

impl<'k> Symbols<'k> {
    /// Layouts under `dir` (e.g. `/usr/share/X11/xkb/symbols`).
    pub fn new(dir: &Path, keysyms: &'k Keysyms) -> Symbols<'k> {
        Symbols {
            dir: dir.to_path_buf(),
            keysyms,
            files: BTreeMap::new(),
        }
    }

    /// The layout named like `cz` or `us(dvorak)`, with every include resolved.
    pub fn layout(&mut self, name: &str) -> Result<Layout, SymbolsError> {
        let mut layout = Layout::new();
        self.include(name, Merge::Override, &mut layout, 0)?;
        Ok(layout)
    }

    fn load(&mut self, file: &str) -> Result<(), SymbolsError> {
        if !self.files.contains_key(file) {
            let path = self.dir.join(file);
            let text = fs::read_to_string(&path).map_err(|source| SymbolsError::Read {
                path: path.clone(),
                source,
            })?;
            self.files
                .insert(file.to_owned(), split_sections(tokenize(&text)));
        }
        Ok(())
    }

    /// Merges the sections named by an include spec (`latin(type4)+level3(ralt_switch)`).
    fn include(
        &mut self,
        spec: &str,
        mode: Merge,
        into: &mut Layout,
        depth: usize,
    ) -> Result<(), SymbolsError> {
        if depth > 20 {
            return Err(SymbolsError::TooDeep(spec.to_owned()));
        }
        let mut part_mode = mode;
        let mut rest = spec;
        while !rest.is_empty() {
            let end = rest.find(['+', '|']).unwrap_or(rest.len());
            let part = &rest[..end];
            // A part for another group (`us:2`) does not touch the first group.
            let (part, group) = part.split_once(':').unwrap_or((part, "1"));
            if group == "1" && !part.is_empty() {
                let (file, section) = match part.split_once('(') {
                    Some((f, s)) => (f, s.trim_end_matches(')')),
                    None => (part, ""),
                };
                let mut layout = Layout::new();
                self.section(file, section, &mut layout, depth)?;
                merge_layout(into, layout, part_mode);
            }
            part_mode = match rest[end..].chars().next() {
                Some('|') => Merge::Augment,
                _ => Merge::Override,
            };
            rest = rest.get(end + 1..).unwrap_or("");
        }
        Ok(())
    }

    fn section(
        &mut self,
        file: &str,
        section: &str,
        into: &mut Layout,
        depth: usize,
    ) -> Result<(), SymbolsError> {
        self.load(file)?;
        let body = {
            let sections = self.files.get(file).map(Vec::as_slice).unwrap_or(&[]);
            let found = if section.is_empty() {
                sections
                    .iter()
                    .find(|s| s.default)
                    .or_else(|| sections.first())
            } else {
                sections.iter().find(|s| s.name == section)
            };
            found
                .ok_or_else(|| SymbolsError::NoSection {
                    file: file.to_owned(),
                    section: section.to_owned(),
                })?
                .body
                .clone()
        };
        let mut default_type: Option<String> = None;
        let mut i = 0;
        while i < body.len() {
            let mut mode = Merge::Override;
            let word = |i: usize| match body.get(i) {
                Some(Tok::Word(w)) => w.as_str(),
                _ => "",
            };
            let mut start = i;
            match word(i) {
                "override" => (mode, start) = (Merge::Override, i + 1),
                "augment" => (mode, start) = (Merge::Augment, i + 1),
                "replace" => (mode, start) = (Merge::Replace, i + 1),
                _ => {}
            }
            let is_include = matches!(word(i), "include" | "override" | "augment" | "replace")
                && matches!(body.get(i + 1), Some(Tok::Str(_)));
            if is_include {
                if let Some(Tok::Str(spec)) = body.get(i + 1) {
                    let spec = spec.clone();
                    self.include(&spec, mode, into, depth + 1)?;
                }
                i += 2;
                continue;
            }
            let end = statement_end(&body, start);
            let stmt = &body[start..end];
            if let [
                Tok::Word(k),
                Tok::KeyName(name),
                Tok::Punct('{'),
                inner @ ..,
            ] = stmt
                && k == "key"
            {
                let mut key = self.key(inner);
                if key.explicit_type.is_none() {
                    key.explicit_type.clone_from(&default_type);
                }
                merge_key(into, name, key, mode);
            } else if let [Tok::Word(k), Tok::Punct('.'), Tok::Word(t), ..] = stmt
                && k == "key"
                && t == "type"
            {
                default_type = stmt.iter().rev().find_map(|t| match t {
                    Tok::Str(s) => Some(s.clone()),
                    _ => None,
                });
            }
            i = end + 1;
        }
        Ok(())
    }

    /// A key's definition, from the tokens after its `{`.
    fn key(&self, toks: &[Tok]) -> Key {
        let mut key = Key::default();
        let mut group_seen = false;
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Punct('[') => {
                    let (list, next) = list(toks, i);
                    if !group_seen {
                        key.levels = self.levels(&list);
                        group_seen = true;
                    }
                    i = next;
                }
                Tok::Word(w) if w == "symbols" => {
                    let group1 = matches!(toks.get(i + 2), Some(Tok::Word(g)) if g == "Group1");
                    let open = toks
                        .iter()
                        .skip(i + 1)
                        .position(|t| *t == Tok::Punct('='))
                        .map_or(toks.len(), |p| p + i + 2);
                    let (list, next) = list(toks, open);
                    if group1 && !group_seen {
                        key.levels = self.levels(&list);
                        group_seen = true;
                    }
                    i = next;
                }
                Tok::Word(w) if w == "type" => {
                    let group = match (toks.get(i + 1), toks.get(i + 2)) {
                        (Some(Tok::Punct('[')), Some(Tok::Word(g))) => g.as_str(),
                        _ => "Group1",
                    };
                    let value = toks.iter().skip(i).find_map(|t| match t {
                        Tok::Str(s) => Some(s.clone()),
                        _ => None,
                    });
                    if group == "Group1" {
                        key.explicit_type = value;
                    }
                    i = skip_entry(toks, i);
                }
                Tok::Word(_) => i = skip_entry(toks, i),
                _ => i += 1,
            }
        }
        key
    }

    fn levels(&self, list: &[Option<String>]) -> [Option<Sym>; 4] {
        let mut levels = [None; 4];
        for (slot, name) in levels.iter_mut().zip(list) {
            *slot = match name.as_deref() {
                None | Some("NoSymbol" | "Nosymbol" | "any") => None,
                Some(name) => Some(self.keysyms.sym(name)),
            };
        }
        levels
    }
}

/// The index of the `;` that ends the statement starting at `start` (braces nest).
fn statement_end(toks: &[Tok], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(start) {
        match t {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Punct(';') if depth == 0 => return i,
            _ => {}
        }
    }
    toks.len()
}

/// Skips one `name[...] = value` entry of a key body, up to the next top-level comma.
fn skip_entry(toks: &[Tok], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(start) {
        match t {
            Tok::Punct('[' | '(' | '{') => depth += 1,
            Tok::Punct(']' | ')' | '}') => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            Tok::Punct(',') if depth == 0 => return i + 1,
            _ => {}
        }
    }
    toks.len()
}

/// The keysym names of the `[ ... ]` list opening at `open` (a `{ a, b }` level, several
/// keysyms at once, counts as nothing), and the index after it.
fn list(toks: &[Tok], open: usize) -> (Vec<Option<String>>, usize) {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut i = open + 1;
    let mut multi = false;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct(']') => {
                out.push(current.take());
                return (out, i + 1);
            }
            Tok::Punct(',') if !multi => out.push(current.take()),
            Tok::Punct('{') => multi = true,
            Tok::Punct('}') => {
                multi = false;
                current = None;
            }
            Tok::Word(w) if !multi => current = Some(w.clone()),
            _ => {}
        }
        i += 1;
    }
    (out, i)
}

fn merge_layout(into: &mut Layout, from: Layout, mode: Merge) {
    for (name, key) in from {
        merge_key(into, &name, key, mode);
    }
}

fn merge_key(into: &mut Layout, name: &str, new: Key, mode: Merge) {
    let Some(old) = into.get_mut(name) else {
        into.insert(name.to_owned(), new);
        return;
    };
    match mode {
        Merge::Replace => *old = new,
        Merge::Override => {
            for (o, n) in old.levels.iter_mut().zip(new.levels) {
                if n.is_some() {
                    *o = n;
                }
            }
            if new.explicit_type.is_some() {
                old.explicit_type = new.explicit_type;
            }
        }
        Merge::Augment => {
            for (o, n) in old.levels.iter_mut().zip(new.levels) {
                if o.is_none() {
                    *o = n;
                }
            }
            if old.explicit_type.is_none() {
                old.explicit_type = new.explicit_type;
            }
        }
    }
}
