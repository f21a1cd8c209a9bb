//! The shell commands of a Markdown page ([`shell_snippets`]), split into words as `sh` would
//! ([`shell_words`]), and each run of a program in them ([`invocations`]).

/// Text that may hold shell commands, and the line of its page where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The 1-based line of the page.
    pub line: usize,
    /// The command text, continuation lines joined.
    pub text: String,
}

/// How the lines of a fenced code block are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// `sh`, `bash`, `shell`: every line is a command.
    Shell,
    /// `console`, `text`: only lines after a `$ ` prompt are commands; the rest is output.
    Prompted,
    /// Anything else (YAML, JSON, …): no commands.
    Other,
}

impl Block {
    fn of(info: &str) -> Block {
        match info.split_whitespace().next().unwrap_or("") {
            "sh" | "bash" | "shell" | "zsh" => Block::Shell,
            "console" | "text" => Block::Prompted,
            _ => Block::Other,
        }
    }
}

/// The shell commands of a Markdown page: each logical line (a line ending in `\` joined with the
/// next) of its `sh`/`bash`/`shell` code blocks, each `$ `-prompted command of its
/// `console`/`text` blocks, and each inline code span outside code blocks.
pub fn shell_snippets(markdown: &str) -> Vec<Snippet> {
    let mut out = vec![];
    let mut block: Option<Block> = None;
    // A command whose line ended with `\`, waiting for the rest.
    let mut continued: Option<Snippet> = None;
    // Prose with an unclosed inline code span, waiting for the line that closes it.
    let mut prose: Option<Snippet> = None;
    for (index, raw) in markdown.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            out.extend(continued.take());
            prose = None;
            block = match block {
                Some(_) => None,
                None => Some(Block::of(info)),
            };
            continue;
        }
        match block {
            Some(Block::Other) => {}
            Some(kind) => {
                let text = match continued.take() {
                    Some(mut pending) => {
                        pending.text.push(' ');
                        pending
                            .text
                            .push_str(trimmed.strip_prefix("> ").unwrap_or(trimmed));
                        pending
                    }
                    None => {
                        let command = match kind {
                            Block::Prompted => match trimmed.strip_prefix("$ ") {
                                Some(command) => command,
                                None => continue,
                            },
                            _ => trimmed,
                        };
                        Snippet {
                            line,
                            text: command.to_owned(),
                        }
                    }
                };
                match text.text.strip_suffix('\\') {
                    Some(head) => {
                        continued = Some(Snippet {
                            line: text.line,
                            text: head.trim_end().to_owned(),
                        });
                    }
                    None => out.push(text),
                }
            }
            None => {
                if trimmed.is_empty() {
                    prose = None;
                    continue;
                }
                let mut text = match prose.take() {
                    Some(mut pending) => {
                        pending.text.push(' ');
                        pending.text.push_str(trimmed);
                        pending
                    }
                    None => Snippet {
                        line,
                        text: raw.to_owned(),
                    },
                };
                if text.text.matches('`').count() % 2 == 1 {
                    prose = Some(text);
                    continue;
                }
                text.text = text.text.replace("``", "`");
                out.extend(
                    text.text
                        .split('`')
                        .skip(1)
                        .step_by(2)
                        .filter(|code| !code.trim().is_empty())
                        .map(|code| Snippet {
                            line: text.line,
                            text: code.to_owned(),
                        }),
                );
            }
        }
    }
    out.extend(continued);
    out
}

/// A shell word, or an operator that ends a command (`|`, `&&`, `;`, `$(`, `)`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word, its quotes removed.
    Text(String),
    /// An operator.
    Operator(String),
}

/// The words of one shell command line, as `sh` splits them: quotes and backslashes honoured, a
/// `#` at the start of a word starting a comment. `<PLACEHOLDER>` stays one word.
pub fn shell_words(line: &str) -> Vec<Word> {
    fn end(words: &mut Vec<Word>, current: &mut String, in_word: &mut bool) {
        if *in_word {
            words.push(Word::Text(std::mem::take(current)));
            *in_word = false;
        }
    }
    let mut words = vec![];
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => end(&mut words, &mut current, &mut in_word),
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    current.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            current.extend(chars.next());
                        }
                        d => current.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                current.extend(chars.next());
            }
            '#' if !in_word => break,
            // `2>&1` is one redirection, not a background `&`.
            '&' if in_word && current.ends_with('>') => current.push('&'),
            '$' if chars.peek() == Some(&'(') => {
                end(&mut words, &mut current, &mut in_word);
                chars.next();
                words.push(Word::Operator("$(".to_owned()));
            }
            '|' | '&' | ';' | '(' | ')' => {
                end(&mut words, &mut current, &mut in_word);
                let mut op = c.to_string();
                if matches!(c, '|' | '&') && chars.peek() == Some(&c) {
                    op.push(c);
                    chars.next();
                }
                words.push(Word::Operator(op));
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    end(&mut words, &mut current, &mut in_word);
    words
}

/// One run of a program in a page's commands: its arguments, up to the end of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The line of the page.
    pub line: usize,
    /// The program's name (`execenvctl`), whatever path the page runs it by.
    pub program: String,
    /// Its arguments, redirections left out.
    pub args: Vec<String>,
}

impl Invocation {
    /// The invocation as a page shows it, for messages.
    pub fn shown(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `word` runs `program`: `program` itself or a path ending in it (`target/debug/execenvctl`),
/// not an assignment (`alias execenvctl=target/debug/execenvctl`).
fn runs(word: &str, program: &str) -> bool {
    !word.contains('=') && word.rsplit('/').next() == Some(program)
}

/// A redirection (`> file`, `2>&1`, `>>log`); `true` in the second place when its target is the
/// next word.
fn redirection(word: &str) -> Option<bool> {
    let op = word
        .strip_prefix("2>")
        .or_else(|| word.strip_prefix("1>"))
        .or_else(|| word.strip_prefix('>'))
        .or_else(|| (word == "<").then_some(""))?;
    let op = op.strip_prefix('>').unwrap_or(op);
    Some(op.is_empty())
}

/// Every invocation of `program` in `snippet`.
pub fn invocations(program: &str, snippet: &Snippet) -> Vec<Invocation> {
    let words = shell_words(&snippet.text);
    let mut out = vec![];
    for (i, word) in words.iter().enumerate() {
        let Word::Text(text) = word else { continue };
        if !runs(text, program) {
            continue;
        }
        let mut args = vec![];
        let mut rest = words[i + 1..].iter().peekable();
        while let Some(Word::Text(arg)) = rest.next() {
            match redirection(arg) {
                Some(true) => {
                    rest.next_if(|w| matches!(w, Word::Text(_)));
                }
                Some(false) => {}
                None => args.push(arg.clone()),
            }
        }
        out.push(Invocation {
            line: snippet.line,
            program: program.to_owned(),
            args,
        });
    }
    out
}
