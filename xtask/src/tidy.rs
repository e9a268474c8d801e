//! `cargo xtask tidy`: the architecture's invariants (ARCHITECTURE.md) checked on the tree, in a
//! few seconds and before anything is compiled, so `cargo xtask test` runs it first.
//!
//! Each rule reads either `cargo metadata` (the manifests and the resolved dependency graph) or
//! the source files themselves. Sources are read through [`mask`], which blanks comments (and,
//! where a rule asks, the insides of string literals) while keeping every offset, so a rule looks
//! only at code and still names the line. The scanning is deliberately plain: identifiers,
//! brackets and string literals, no full parser. Where a rule cannot see that the code is right
//! (a bind to an address held in a variable, a list of commands it cannot find), it fails rather
//! than passes, so the check cannot go quiet by accident. Every finding names its file and rule,
//! and one run lists them all.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use scan::{
    Lang, Strings, comment_end, identifiers, is_method_call, line_of, mask, matching_close,
    next_code_byte, previous_code_byte, statement_end, string_literals, without_whitespace,
};

mod scan;

/// The wire contract's crate and the only crates it may depend on (normal and build
/// dependencies; its tests may use more).
const CONTRACT_CRATE: &str = "ddn-api";
const CONTRACT_DEPENDENCIES: &[&str] = &["serde"];

/// The engine and its clients without a window: none may depend on a Tauri crate, directly or
/// through any other crate.
const ENGINE_CRATES: &[&str] = &["ddn-api", "ddn-transfer", "ddn-cli", "ddn-secrets"];

/// The desktop shell's sources.
const DESKTOP_SRC: &str = "src-tauri/src";

/// The desktop modules tested without a window, relative to [`DESKTOP_SRC`]: none may use Tauri
/// (or a `tauri_plugin_*` crate). A name ending in `/` is a folder, every `.rs` file in it
/// included. A listed name that does not exist is reported as a note, not a failure, so a module
/// can be split or moved before this list follows it.
const WINDOW_FREE_MODULES: &[&str] = &[
    "backend.rs",
    "clock.rs",
    "error.rs",
    "files.rs",
    "jobs/",
    "json_file.rs",
    "notices.rs",
    "settings.rs",
];

/// The presign function's sources.
const FUNCTION_SRC: &str = "lambda/src";

/// The S3 operations that carry object bytes. The function may only presign them
/// (`.get_object()...presigned(..)`), never send them.
const OBJECT_BYTE_OPERATIONS: &[&str] = &[
    "get_object",
    "put_object",
    "upload_part",
    "select_object_content",
];

/// Sources that open sockets for the tests and the local stack: every bind must be to loopback.
/// A folder that does not exist (yet) is skipped.
const LOOPBACK_ONLY_SRC: &[&str] = &["crates/ddn-localstack/src", "crates/ddn-testkit/src"];

/// The modules whose `bind` binds loopback only, so `module::bind(..)` passes whatever its
/// arguments: `crates/ddn-localstack/src/loopback.rs`, itself held to this rule like every file.
const LOOPBACK_BIND_MODULES: &[&str] = &["loopback"];

/// Ways of writing the unspecified ("any") address, matched with whitespace removed.
const UNSPECIFIED_ADDRESSES: &[&str] = &[
    "0.0.0.0",
    "\"::\"",
    "[::]",
    "::UNSPECIFIED",
    "[0,0,0,0]",
    "Ipv4Addr::new(0,0,0,0)",
    "Ipv6Addr::new(0,0,0,0,0,0,0,0)",
];

/// Ways of writing a loopback address, one of which a bind's arguments must contain (matched
/// with whitespace removed).
const LOOPBACK_ADDRESSES: &[&str] = &[
    "LOCALHOST",
    "\"127.",
    "\"localhost",
    "\"[::1]",
    "\"::1\"",
    "Ipv4Addr::new(127,",
    "[127,0,0,1]",
];

/// The four lists of the desktop app's commands.
const COMMAND_MANIFEST: &str = "src-tauri/build.rs";
const COMMAND_HANDLER: &str = "src-tauri/src/lib.rs";
const CAPABILITIES_DIR: &str = "src-tauri/capabilities";
const PAGE_BACKEND: &str = "ui/src/backend.js";

/// Source folders whose every `.rs` file starts with a `//!` module doc (`crates/*/src` is
/// added for every crate in `crates/`).
const DOCUMENTED_SRC: &[&str] = &["lambda/src", "src-tauri/src", "xtask/src"];

/// The rules, each named in its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// `ddn-api` depends on serde alone.
    ContractSerdeOnly,
    /// No Tauri crate in the engine's dependency graph, and no Tauri in the window-free modules.
    NoTauriInEngine,
    /// The presign function never sends an operation that carries object bytes.
    NoObjectBytesInFunction,
    /// The local stack and the test kit bind loopback only.
    LoopbackBinds,
    /// The manifest, the handler, the capability files and the page name the same commands.
    CommandsAgree,
    /// Every module starts with its `//!` doc.
    ModuleDocs,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::ContractSerdeOnly => "contract-serde-only",
            Self::NoTauriInEngine => "no-tauri-in-engine",
            Self::NoObjectBytesInFunction => "no-object-bytes-in-function",
            Self::LoopbackBinds => "loopback-binds",
            Self::CommandsAgree => "commands-agree",
            Self::ModuleDocs => "module-docs",
        }
    }
}

/// One broken rule: where, which rule, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    /// Relative to the workspace root, with `/` separators.
    file: String,
    line: Option<usize>,
    rule: Rule,
    message: String,
}

impl Finding {
    fn new(file: &str, line: Option<usize>, rule: Rule, message: String) -> Self {
        Self {
            file: file.to_owned(),
            line,
            rule,
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        write!(f, "[{}] {}", self.rule.name(), self.message)
    }
}

/// What a run found: findings fail it, notes are printed only.
#[derive(Debug, Default)]
struct Report {
    findings: Vec<Finding>,
    notes: Vec<String>,
}

/// Checks every rule on the workspace at `root`, failing with every finding.
pub fn run(root: &Path) -> Result<()> {
    let report = check(root)?;
    for note in &report.notes {
        println!("    note: {note}");
    }
    if !report.findings.is_empty() {
        let lines: Vec<String> = report.findings.iter().map(Finding::to_string).collect();
        bail!(
            "{} finding(s) against the architecture's rules (ARCHITECTURE.md):\n{}",
            lines.len(),
            lines.join("\n")
        );
    }
    println!("    the architecture's rules hold");
    Ok(())
}

fn check(root: &Path) -> Result<Report> {
    let mut report = Report::default();
    let metadata = cargo_metadata(root)?;
    report.findings.extend(contract_dependencies(&metadata));
    report
        .findings
        .extend(engine_without_tauri(&metadata, ENGINE_CRATES));
    check_window_free_modules(root, &mut report)?;
    for file in rust_files(root, FUNCTION_SRC)? {
        report
            .findings
            .extend(function_object_calls(&file, &read(root, &file)?));
    }
    for dir in LOOPBACK_ONLY_SRC {
        if root.join(dir).is_dir() {
            for file in rust_files(root, dir)? {
                report
                    .findings
                    .extend(loopback_binds(&file, &read(root, &file)?));
            }
        }
    }
    report
        .findings
        .extend(commands_agree(&command_lists(root)?));
    for file in documented_files(root)? {
        report
            .findings
            .extend(module_doc(&file, &read(root, &file)?));
    }
    Ok(report)
}

/// `cargo metadata` for the whole workspace with every feature on, so an optional dependency
/// counts too. `--locked`: a check never rewrites `Cargo.lock`.
fn cargo_metadata(root: &Path) -> Result<Value> {
    let output = crate::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .current_dir(root)
        .output()
        .context("could not start cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("reading cargo metadata's JSON")
}

/// A workspace member's package entry, by name.
fn workspace_package<'a>(metadata: &'a Value, name: &str) -> Option<&'a Value> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    metadata["packages"].as_array()?.iter().find(|package| {
        package["name"].as_str() == Some(name)
            && package["id"]
                .as_str()
                .is_some_and(|id| members.contains(id))
    })
}

/// A package's manifest, relative to the workspace root when it is inside it.
fn manifest_of(metadata: &Value, package: &Value) -> String {
    let manifest = package["manifest_path"].as_str().unwrap_or("Cargo.toml");
    let root = metadata["workspace_root"].as_str().unwrap_or("");
    let relative = Path::new(manifest)
        .strip_prefix(root)
        .unwrap_or(Path::new(manifest));
    slash_path(relative)
}

/// Rule 1: the contract's normal and build dependencies are [`CONTRACT_DEPENDENCIES`] only.
fn contract_dependencies(metadata: &Value) -> Vec<Finding> {
    let Some(package) = workspace_package(metadata, CONTRACT_CRATE) else {
        return vec![Finding::new(
            "Cargo.toml",
            None,
            Rule::ContractSerdeOnly,
            format!("no workspace member is named {CONTRACT_CRATE}"),
        )];
    };
    let manifest = manifest_of(metadata, package);
    let dependencies = package["dependencies"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    dependencies
        .iter()
        .filter_map(|dependency| {
            let name = dependency["name"].as_str()?;
            let kind = match dependency["kind"].as_str() {
                Some("dev") => return None,
                Some("build") => "build dependency",
                _ => "dependency",
            };
            (!CONTRACT_DEPENDENCIES.contains(&name)).then(|| {
                Finding::new(
                    &manifest,
                    None,
                    Rule::ContractSerdeOnly,
                    format!(
                        "`{name}` is a {kind} of the wire contract, which depends on {} alone",
                        CONTRACT_DEPENDENCIES.join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn is_tauri_crate(name: &str) -> bool {
    name.starts_with("tauri")
}

/// Rule 2, the graph: none of `engine` (package names) reaches a Tauri crate in the resolved
/// graph. An engine crate's own edges count whatever their kind (its tests are engine code too); further edges
/// count when they are normal or build dependencies, the ones that are built with it.
fn engine_without_tauri(metadata: &Value, engine_crates: &[&str]) -> Vec<Finding> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
        .collect();
    let nodes: BTreeMap<&str, &[Value]> = metadata["resolve"]["nodes"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|node| {
            Some((
                node["id"].as_str()?,
                node["deps"].as_array().map_or(&[][..], Vec::as_slice),
            ))
        })
        .collect();
    let name_of = |id: &str| names.get(id).copied().unwrap_or(id).to_owned();

    let mut findings = Vec::new();
    for engine in engine_crates {
        let Some(package) = workspace_package(metadata, engine) else {
            findings.push(Finding::new(
                "Cargo.toml",
                None,
                Rule::NoTauriInEngine,
                format!("no workspace member is named {engine}"),
            ));
            continue;
        };
        let Some(start) = package["id"].as_str() else {
            continue;
        };
        // Breadth first, so each Tauri crate is reported through the shortest chain.
        let mut reached_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(id) = queue.pop_front() {
            for dependency in nodes.get(id).copied().unwrap_or_default() {
                let Some(next) = dependency["pkg"].as_str() else {
                    continue;
                };
                let built_with_it = dependency["dep_kinds"].as_array().is_none_or(|kinds| {
                    kinds
                        .iter()
                        .any(|kind| kind["kind"].as_str() != Some("dev"))
                });
                if next == start || reached_from.contains_key(next) {
                    continue;
                }
                if id != start && !built_with_it {
                    continue;
                }
                reached_from.insert(next, id);
                if is_tauri_crate(&name_of(next)) {
                    let mut chain = vec![name_of(next)];
                    let mut at = id;
                    while at != start {
                        chain.push(name_of(at));
                        at = reached_from.get(at).copied().unwrap_or(start);
                    }
                    chain.push(name_of(start));
                    chain.reverse();
                    findings.push(Finding::new(
                        &manifest_of(metadata, package),
                        None,
                        Rule::NoTauriInEngine,
                        format!(
                            "{engine} depends on the Tauri crate {}: {}",
                            name_of(next),
                            chain.join(" -> ")
                        ),
                    ));
                } else {
                    queue.push_back(next);
                }
            }
        }
    }
    findings
}

/// Rule 2, the sources: the modules in [`WINDOW_FREE_MODULES`] do not use Tauri.
fn check_window_free_modules(root: &Path, report: &mut Report) -> Result<()> {
    for module in WINDOW_FREE_MODULES {
        let path = format!("{DESKTOP_SRC}/{module}");
        let files = if let Some(dir) = path.strip_suffix('/') {
            if root.join(dir).is_dir() {
                rust_files(root, dir)?
            } else {
                Vec::new()
            }
        } else if root.join(&path).is_file() {
            vec![path.clone()]
        } else {
            Vec::new()
        };
        if files.is_empty() {
            report.notes.push(format!(
                "{path} is listed in WINDOW_FREE_MODULES (xtask/src/tidy.rs) but does not exist"
            ));
        }
        for file in files {
            report
                .findings
                .extend(window_free_module(&file, &read(root, &file)?));
        }
    }
    Ok(())
}

/// A window-free module names no `tauri` or `tauri_*` crate anywhere in its code.
fn window_free_module(file: &str, source: &str) -> Option<Finding> {
    let code = mask(source, Lang::Rust, Strings::Blank);
    let uses: Vec<(usize, &str)> = identifiers(&code)
        .into_iter()
        .filter(|(_, ident)| *ident == "tauri" || ident.starts_with("tauri_"))
        .collect();
    let (offset, ident) = *uses.first()?;
    Some(Finding::new(
        file,
        Some(line_of(&code, offset)),
        Rule::NoTauriInEngine,
        format!(
            "uses `{ident}` ({} place(s)), but this module is on the window-free list \
             (WINDOW_FREE_MODULES in xtask/src/tidy.rs)",
            uses.len()
        ),
    ))
}

/// Rule 3: every mention of an operation that carries object bytes is a method call whose
/// statement presigns it (`.presigned(`); sending one, or naming its module or type, fails.
fn function_object_calls(file: &str, source: &str) -> Vec<Finding> {
    let code = mask(source, Lang::Rust, Strings::Blank);
    identifiers(&code)
        .into_iter()
        .filter(|(_, ident)| OBJECT_BYTE_OPERATIONS.contains(ident))
        .filter_map(|(offset, ident)| {
            let end = offset + ident.len();
            let message = if is_method_call(&code, offset, end) {
                let statement = &code[offset..statement_end(&code, end)];
                let presigned = identifiers(statement).into_iter().any(|(at, name)| {
                    name == "presigned" && is_method_call(statement, at, at + name.len())
                });
                if presigned {
                    return None;
                }
                format!(
                    "calls `{ident}` without presigning it: the function never reads or writes \
                     object bytes (sign a URL with `.presigned(..)`, or use HeadObject or \
                     ListObjectsV2)"
                )
            } else {
                format!(
                    "names the S3 operation `{ident}`: the function never reads or writes object \
                     bytes, it only presigns them"
                )
            };
            Some(Finding::new(
                file,
                Some(line_of(&code, offset)),
                Rule::NoObjectBytesInFunction,
                message,
            ))
        })
        .collect()
}

/// Rule 4: no spelling of the unspecified address appears in the code, and every `X::bind(..)`
/// or `.bind(..)` call names a loopback address in its arguments, or is the bind of one of the
/// [`LOOPBACK_BIND_MODULES`].
fn loopback_binds(file: &str, source: &str) -> Vec<Finding> {
    let blank = mask(source, Lang::Rust, Strings::Blank);
    let code = mask(source, Lang::Rust, Strings::Keep);
    let (compact, offsets) = without_whitespace(&code);
    let mut findings = Vec::new();
    for spelling in UNSPECIFIED_ADDRESSES {
        for (at, _) in compact.match_indices(spelling) {
            findings.push(Finding::new(
                file,
                Some(line_of(&code, offsets[at])),
                Rule::LoopbackBinds,
                format!(
                    "names the unspecified address (`{spelling}`): every socket binds to a \
                     loopback address"
                ),
            ));
        }
    }
    let idents = identifiers(&blank);
    for (index, &(offset, ident)) in idents.iter().enumerate() {
        let end = offset + ident.len();
        let qualified = matches!(previous_code_byte(&blank, offset), Some(b'.' | b':'));
        let Some(open) = next_code_byte(&blank, end).filter(|&(_, byte)| byte == b'(') else {
            continue;
        };
        if ident != "bind" || !qualified {
            continue;
        }
        let loopback_module = index.checked_sub(1).is_some_and(|previous| {
            let (at, module) = idents[previous];
            LOOPBACK_BIND_MODULES.contains(&module)
                && blank[at + module.len()..offset].trim() == "::"
        });
        if loopback_module {
            continue;
        }
        let close = matching_close(&blank, open.0).unwrap_or(blank.len());
        let arguments = &code[open.0 + 1..close];
        let (compact_arguments, _) = without_whitespace(arguments);
        if !LOOPBACK_ADDRESSES
            .iter()
            .any(|spelling| compact_arguments.contains(spelling))
        {
            findings.push(Finding::new(
                file,
                Some(line_of(&code, offset)),
                Rule::LoopbackBinds,
                format!(
                    "binds to `{}`, which is not visibly loopback: name the address in the call \
                     (`Ipv4Addr::LOCALHOST`, `\"127.0.0.1:0\"`)",
                    arguments.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
            ));
        }
    }
    findings.sort_by_key(|finding| finding.line);
    findings
}

/// One of the four lists of commands, or why it could not be read.
#[derive(Debug)]
struct CommandList {
    file: String,
    commands: std::result::Result<BTreeSet<String>, String>,
}

fn command_lists(root: &Path) -> Result<Vec<CommandList>> {
    let mut capability_files: Vec<String> = std::fs::read_dir(root.join(CAPABILITIES_DIR))
        .with_context(|| format!("reading {CAPABILITIES_DIR}"))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .map(|name| format!("{CAPABILITIES_DIR}/{name}"))
        .collect();
    capability_files.sort();
    let mut granted = BTreeSet::new();
    let mut unreadable = None;
    for file in &capability_files {
        match capability_commands(&read(root, file)?) {
            Ok(commands) => granted.extend(commands),
            Err(error) => {
                unreadable.get_or_insert(format!("{file}: {error}"));
            }
        }
    }
    if capability_files.is_empty() {
        unreadable = Some("no capability file (*.json)".to_owned());
    }
    let granted = unreadable.map_or(Ok(granted), Err);
    Ok(vec![
        CommandList {
            file: COMMAND_MANIFEST.to_owned(),
            commands: manifest_commands(&read(root, COMMAND_MANIFEST)?),
        },
        CommandList {
            file: COMMAND_HANDLER.to_owned(),
            commands: handler_commands(&read(root, COMMAND_HANDLER)?),
        },
        CommandList {
            file: if capability_files.is_empty() {
                CAPABILITIES_DIR.to_owned()
            } else {
                capability_files.join(", ")
            },
            commands: granted,
        },
        CommandList {
            file: PAGE_BACKEND.to_owned(),
            commands: page_commands(&read(root, PAGE_BACKEND)?),
        },
    ])
}

/// Rule 5: every command in any list is in every other; a list that cannot be read fails too.
fn commands_agree(lists: &[CommandList]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut read: Vec<(&str, &BTreeSet<String>)> = Vec::new();
    for list in lists {
        match &list.commands {
            Ok(commands) => read.push((&list.file, commands)),
            Err(error) => findings.push(Finding::new(
                &list.file,
                None,
                Rule::CommandsAgree,
                format!("cannot read the list of commands: {error}"),
            )),
        }
    }
    let every: BTreeSet<&String> = read.iter().flat_map(|(_, commands)| *commands).collect();
    for command in every {
        let holders: Vec<&str> = read
            .iter()
            .filter(|(_, commands)| commands.contains(command))
            .map(|(file, _)| *file)
            .collect();
        for (file, commands) in &read {
            if !commands.contains(command) {
                findings.push(Finding::new(
                    file,
                    None,
                    Rule::CommandsAgree,
                    format!(
                        "the command `{command}` is missing here but is in {}",
                        holders.join(" and ")
                    ),
                ));
            }
        }
    }
    findings
}

/// `build.rs`'s app manifest: the string literals of `const COMMANDS: &[&str] = &[..];`.
fn manifest_commands(source: &str) -> std::result::Result<BTreeSet<String>, String> {
    let blank = mask(source, Lang::Rust, Strings::Blank);
    let code = mask(source, Lang::Rust, Strings::Keep);
    let idents = identifiers(&blank);
    let at = idents
        .windows(2)
        .find(|pair| pair[0].1 == "const" && pair[1].1 == "COMMANDS")
        .map(|pair| pair[1].0)
        .ok_or("no `const COMMANDS` list")?;
    let equals = blank[at..]
        .find('=')
        .map(|i| at + i)
        .ok_or("no `=` after COMMANDS")?;
    let open = blank[equals..]
        .find('[')
        .map(|i| equals + i)
        .ok_or("no `[` after COMMANDS")?;
    let close = matching_close(&blank, open).ok_or("the COMMANDS list is not closed")?;
    Ok(string_literals(&code, &blank, open, close)
        .into_iter()
        .map(|(_, text)| text)
        .collect())
}

/// `lib.rs`'s handler: the last path segment of each entry of `generate_handler![..]`.
fn handler_commands(source: &str) -> std::result::Result<BTreeSet<String>, String> {
    let blank = mask(source, Lang::Rust, Strings::Blank);
    let (at, name) = identifiers(&blank)
        .into_iter()
        .find(|(_, ident)| *ident == "generate_handler")
        .ok_or("no `generate_handler!`")?;
    let bang = next_code_byte(&blank, at + name.len())
        .filter(|&(_, byte)| byte == b'!')
        .ok_or("`generate_handler` is not a macro call")?;
    let open = next_code_byte(&blank, bang.0 + 1)
        .filter(|&(_, byte)| matches!(byte, b'[' | b'(' | b'{'))
        .ok_or("`generate_handler!` has no list")?;
    let close = matching_close(&blank, open.0).ok_or("the handler list is not closed")?;
    Ok(blank[open.0 + 1..close]
        .split(',')
        .filter_map(|entry| entry.rsplit("::").next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A capability file's app commands: each permission `allow-<command>` (no `plugin:` prefix),
/// the command in snake case as Tauri's app manifest names its permissions in kebab case.
fn capability_commands(json: &str) -> std::result::Result<BTreeSet<String>, String> {
    let capability: Value = serde_json::from_str(json).map_err(|error| error.to_string())?;
    let permissions = capability["permissions"]
        .as_array()
        .ok_or("no `permissions` list")?;
    Ok(permissions
        .iter()
        .filter_map(|permission| {
            permission
                .as_str()
                .or_else(|| permission["identifier"].as_str())
        })
        .filter(|identifier| !identifier.contains(':'))
        .filter_map(|identifier| identifier.strip_prefix("allow-"))
        .map(|command| command.replace('-', "_"))
        .collect())
}

/// The page's commands: the string literal first argument of every `invoke(..)` call, and the
/// string values of every `*_COMMANDS = { key: "command", .. }` table (commands chosen by an
/// action name and invoked through a variable).
fn page_commands(source: &str) -> std::result::Result<BTreeSet<String>, String> {
    let blank = mask(source, Lang::Js, Strings::Blank);
    let code = mask(source, Lang::Js, Strings::Keep);
    let mut commands = BTreeSet::new();
    for (at, ident) in identifiers(&blank) {
        let end = at + ident.len();
        let Some((next, byte)) = next_code_byte(&blank, end) else {
            continue;
        };
        if ident == "invoke" && byte == b'(' {
            if let Some((first, _)) = next_code_byte(&blank, next + 1)
                .filter(|&(_, byte)| matches!(byte, b'"' | b'\'' | b'`'))
                && let Some(close) = blank[first + 1..].find(char::from(blank.as_bytes()[first]))
            {
                commands.insert(code[first + 1..first + 1 + close].to_owned());
            }
        } else if ident.ends_with("_COMMANDS")
            && byte == b'='
            && let Some((open, b'{')) = next_code_byte(&blank, next + 1)
        {
            let close = matching_close(&blank, open).ok_or("a command table is not closed")?;
            for (quote, text) in string_literals(&code, &blank, open, close) {
                let after = quote + text.len() + 2;
                if next_code_byte(&blank, after).map(|(_, byte)| byte) != Some(b':') {
                    commands.insert(text);
                }
            }
        }
    }
    if commands.is_empty() {
        return Err("no `invoke(\"command\", ..)` call and no `*_COMMANDS` table".to_owned());
    }
    Ok(commands)
}

/// Whether `text` opens with an item's block doc (`/**`, not the empty comment `/**/`).
fn is_outer_doc(text: &str) -> bool {
    text.starts_with("/**") && !text.starts_with("/**/")
}

/// Rule 6: after blank lines, plain comments and inner attributes, the file opens with `//!`.
fn module_doc(file: &str, source: &str) -> Option<Finding> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let blank = mask(source, Lang::Rust, Strings::Blank);
    let mut at = 0;
    if source.starts_with("#!") && !source.starts_with("#![") {
        at = source.find('\n').unwrap_or(source.len());
    }
    loop {
        at += source[at..].len() - source[at..].trim_start().len();
        let rest = &source[at..];
        if rest.starts_with("//!") || rest.starts_with("/*!") {
            return None;
        }
        if rest.starts_with("//") && !rest.starts_with("///") {
            at += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") && !is_outer_doc(rest) {
            at = comment_end(source.as_bytes(), at, Lang::Rust);
        } else if rest.starts_with("#![") {
            at = matching_close(&blank, at + 2).map_or(source.len(), |close| close + 1);
        } else {
            break;
        }
    }
    Some(Finding::new(
        file,
        Some(line_of(source, at)),
        Rule::ModuleDocs,
        "does not start with a `//!` module doc".to_owned(),
    ))
}

fn documented_files(root: &Path) -> Result<Vec<String>> {
    let mut dirs: Vec<String> = Vec::new();
    let crates = std::fs::read_dir(root.join("crates")).context("reading crates/")?;
    for entry in crates {
        let entry = entry.context("reading crates/")?;
        if let Ok(name) = entry.file_name().into_string()
            && entry.path().join("src").is_dir()
        {
            dirs.push(format!("crates/{name}/src"));
        }
    }
    dirs.sort();
    dirs.extend(DOCUMENTED_SRC.iter().map(|dir| (*dir).to_owned()));
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(rust_files(root, &dir)?);
    }
    Ok(files)
}

/// Every `.rs` file under `dir` (relative to `root`), sorted, as `/`-separated relative paths.
fn rust_files(root: &Path, dir: &str) -> Result<Vec<String>> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            if path.is_dir() {
                walk(&path, files)?;
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(&root.join(dir), &mut files)?;
    let mut relative: Vec<String> = files
        .iter()
        .map(|path| slash_path(path.strip_prefix(root).unwrap_or(path)))
        .collect();
    relative.sort();
    Ok(relative)
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(root: &Path, file: &str) -> Result<String> {
    std::fs::read_to_string(root.join(file)).with_context(|| format!("reading {file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(findings: &[Finding]) -> Vec<(Option<usize>, Rule)> {
        findings
            .iter()
            .map(|finding| (finding.line, finding.rule))
            .collect()
    }

    /// A package's name and its dependencies (name, kind: `None` for a normal one).
    type Package = (
        &'static str,
        &'static [(&'static str, Option<&'static str>)],
    );

    /// A small `cargo metadata` answer: `packages` (name, dependencies), the members and the
    /// resolved graph (`edges`: from, to, kind).
    fn metadata(
        packages: &[Package],
        members: &[&str],
        edges: &[(&str, &str, Option<&str>)],
    ) -> Value {
        let id = |name: &str| format!("path+file:///w/{name}#0.1.0");
        let packages: Vec<Value> = packages
            .iter()
            .map(|(name, dependencies)| {
                serde_json::json!({
                    "name": name,
                    "id": id(name),
                    "manifest_path": format!("/w/crates/{name}/Cargo.toml"),
                    "dependencies": dependencies
                        .iter()
                        .map(|(dependency, kind)| serde_json::json!({ "name": dependency, "kind": kind }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut nodes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for package in &packages {
            nodes
                .entry(package["id"].as_str().expect("id").to_owned())
                .or_default();
        }
        for (from, to, kind) in edges {
            nodes.entry(id(from)).or_default().push(serde_json::json!({
                "name": to.replace('-', "_"),
                "pkg": id(to),
                "dep_kinds": [{ "kind": kind, "target": null }],
            }));
        }
        serde_json::json!({
            "packages": packages,
            "workspace_members": members.iter().map(|name| id(name)).collect::<Vec<_>>(),
            "workspace_root": "/w",
            "resolve": {
                "nodes": nodes
                    .into_iter()
                    .map(|(id, deps)| serde_json::json!({ "id": id, "deps": deps }))
                    .collect::<Vec<_>>(),
            },
        })
    }

    #[test]
    fn the_contract_may_depend_on_serde_and_use_anything_in_its_tests() {
        let clean = metadata(
            &[(
                "ddn-api",
                &[
                    ("serde", None),
                    ("serde_json", Some("dev")),
                    ("tempfile", Some("dev")),
                ],
            )],
            &["ddn-api"],
            &[],
        );
        assert_eq!(contract_dependencies(&clean), vec![]);
    }

    #[test]
    fn the_contract_fails_on_any_other_normal_or_build_dependency() {
        let heavy = metadata(
            &[(
                "ddn-api",
                &[("serde", None), ("reqwest", None), ("cc", Some("build"))],
            )],
            &["ddn-api"],
            &[],
        );
        let findings = contract_dependencies(&heavy);
        let messages: Vec<String> = findings.iter().map(Finding::to_string).collect();
        assert_eq!(
            messages,
            [
                "crates/ddn-api/Cargo.toml: [contract-serde-only] `reqwest` is a dependency of \
                 the wire contract, which depends on serde alone",
                "crates/ddn-api/Cargo.toml: [contract-serde-only] `cc` is a build dependency of \
                 the wire contract, which depends on serde alone",
            ]
        );
        let missing = metadata(&[("ddn-api", &[])], &[], &[]);
        assert_eq!(
            rules_of(&contract_dependencies(&missing)),
            [(None, Rule::ContractSerdeOnly)]
        );
    }

    fn engine_packages() -> Vec<Package> {
        [
            "ddn-api",
            "ddn-transfer",
            "ddn-cli",
            "ddn-secrets",
            "reqwest",
            "shared",
            "tauri-utils",
            "ddn-desktop",
            "tauri",
        ]
        .into_iter()
        .map(|name| (name, &[][..]))
        .collect()
    }

    const ENGINE_MEMBERS: &[&str] = &[
        "ddn-api",
        "ddn-transfer",
        "ddn-cli",
        "ddn-secrets",
        "ddn-desktop",
    ];

    #[test]
    fn the_engine_passes_when_only_the_desktop_reaches_tauri() {
        let clean = metadata(
            &engine_packages(),
            ENGINE_MEMBERS,
            &[
                ("ddn-transfer", "ddn-api", None),
                ("ddn-transfer", "reqwest", None),
                ("ddn-cli", "ddn-transfer", None),
                ("ddn-desktop", "ddn-transfer", None),
                ("ddn-desktop", "tauri", None),
                // A workspace member's test dependency is not built with the engine.
                ("shared", "tauri-utils", Some("dev")),
                ("ddn-secrets", "shared", None),
            ],
        );
        assert_eq!(engine_without_tauri(&clean, ENGINE_CRATES), vec![]);
    }

    #[test]
    fn the_engine_fails_on_tauri_reached_directly_or_through_other_crates() {
        let tangled = metadata(
            &engine_packages(),
            ENGINE_MEMBERS,
            &[
                ("ddn-transfer", "reqwest", None),
                ("reqwest", "shared", None),
                ("shared", "tauri-utils", Some("build")),
                ("ddn-secrets", "tauri", Some("dev")),
            ],
        );
        let messages: Vec<String> = engine_without_tauri(&tangled, ENGINE_CRATES)
            .iter()
            .map(Finding::to_string)
            .collect();
        assert_eq!(
            messages,
            [
                "crates/ddn-transfer/Cargo.toml: [no-tauri-in-engine] ddn-transfer depends on the \
                 Tauri crate tauri-utils: ddn-transfer -> reqwest -> shared -> tauri-utils",
                "crates/ddn-secrets/Cargo.toml: [no-tauri-in-engine] ddn-secrets depends on the \
                 Tauri crate tauri: ddn-secrets -> tauri",
            ]
        );
    }

    #[test]
    fn a_window_free_module_may_mention_tauri_only_in_comments_and_strings() {
        let clean = "//! Saved rows (no tauri here).\nuse serde::Serialize;\n\
                     const NOTE: &str = \"not tauri::Manager\";\n";
        assert_eq!(window_free_module("src-tauri/src/jobs.rs", clean), None);
        let windowed = "//! Rows.\nuse std::sync::Arc;\n\nfn f() { tauri::async_runtime::spawn(async {}); }\n\
                        use tauri_plugin_dialog::DialogExt as _;\n";
        let finding = window_free_module("src-tauri/src/jobs.rs", windowed).expect("a finding");
        assert_eq!(
            finding.to_string(),
            "src-tauri/src/jobs.rs:4: [no-tauri-in-engine] uses `tauri` (2 place(s)), but this \
             module is on the window-free list (WINDOW_FREE_MODULES in xtask/src/tidy.rs)"
        );
    }

    #[test]
    fn the_function_may_presign_head_and_list_objects() {
        let clean = "//! Store.\n\
            // A comment may say get_object; so may a string.\n\
            const WHY: &str = \"needs s3:GetObject and get_object\";\n\
            async fn head(c: &Client) { c.head_object().bucket(b).key(k).send().await; }\n\
            async fn list(c: &Client) { c.list_objects_v2().bucket(b).send().await; }\n\
            async fn sign(c: &Client) -> Url {\n    let request = c\n        .get_object()\n        \
            .bucket(b)\n        .presigned(config)\n        .await?;\n    \
            url(c.put_object().key(k).presigned(config).await?)\n}\n";
        assert_eq!(function_object_calls("lambda/src/store.rs", clean), vec![]);
    }

    #[test]
    fn the_function_fails_on_sending_or_naming_an_object_byte_operation() {
        let bytes = "//! Store.\n\
            async fn read(c: &Client) -> Bytes {\n    \
            let output = c.get_object().bucket(b).key(k).send().await?;\n    \
            let _ = c.presigned_url();\n    \
            c.put_object().body(body).send().await?\n}\n\
            use aws_sdk_s3::operation::upload_part::UploadPartOutput;\n";
        let findings = function_object_calls("lambda/src/store.rs", bytes);
        assert_eq!(
            rules_of(&findings),
            [
                (Some(3), Rule::NoObjectBytesInFunction),
                (Some(5), Rule::NoObjectBytesInFunction),
                (Some(7), Rule::NoObjectBytesInFunction),
            ]
        );
        assert!(
            findings[0]
                .message
                .starts_with("calls `get_object` without presigning it")
        );
        assert!(
            findings[2]
                .message
                .starts_with("names the S3 operation `upload_part`")
        );
    }

    #[test]
    fn loopback_binds_pass_and_any_other_bind_fails() {
        let clean = "//! Stack.\n\
            // Never 0.0.0.0 (a comment).\n\
            async fn bind(port: u16) -> TcpListener {\n    \
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await\n}\n\
            async fn start() { let s3 = bind(0).await; let api = bind(options.port).await; }\n\
            fn other() { std::net::UdpSocket::bind(\"127.0.0.1:0\"); socket.bind( (Ipv6Addr::LOCALHOST, 0).into() ); }\n\
            fn named() { TcpListener::bind(\"localhost:8080\"); }\n\
            fn helper() { crate::loopback::bind(0); loopback :: bind(port); }\n";
        assert_eq!(
            loopback_binds("crates/ddn-localstack/src/lib.rs", clean),
            vec![]
        );

        let open = "//! Stack.\n\
            fn a() { TcpListener::bind(\"0.0.0.0:9000\"); }\n\
            fn b() { TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], 80))); }\n\
            fn c() { let any = Ipv6Addr::UNSPECIFIED; }\n\
            fn d() { TcpListener::bind(address).await; }\n\
            fn e() { socket.bind(\"[::]:0\".parse()?); }\n\
            fn f() { other::bind(0); }\n";
        let findings = loopback_binds("crates/ddn-testkit/src/lib.rs", open);
        assert_eq!(
            rules_of(&findings),
            [
                (Some(2), Rule::LoopbackBinds),
                (Some(2), Rule::LoopbackBinds),
                (Some(3), Rule::LoopbackBinds),
                (Some(3), Rule::LoopbackBinds),
                (Some(4), Rule::LoopbackBinds),
                (Some(5), Rule::LoopbackBinds),
                (Some(6), Rule::LoopbackBinds),
                (Some(6), Rule::LoopbackBinds),
                (Some(7), Rule::LoopbackBinds),
            ]
        );
        assert_eq!(
            findings[5].to_string(),
            "crates/ddn-testkit/src/lib.rs:5: [loopback-binds] binds to `address`, which is not \
             visibly loopback: name the address in the call (`Ipv4Addr::LOCALHOST`, \
             `\"127.0.0.1:0\"`)"
        );
    }

    const MANIFEST: &str = "//! Build.\n/// Every command.\nconst COMMANDS: &[&str] = &[\n    \
        \"load_settings\",\n    // \"not_a_command\",\n    \"start_uploads\",\n    \"restart_app\",\n];\n\
        fn main() { tauri_build::AppManifest::new().commands(COMMANDS); }\n";
    const HANDLER: &str = "//! Shell.\npub fn with_commands() {\n    \
        builder.invoke_handler(tauri::generate_handler![\n        commands::load_settings,\n        \
        commands::start_uploads,\n        updates::restart_app,\n    ])\n}\n";
    const CAPABILITY: &str = r#"{ "permissions": [
        "core:event:allow-listen", "allow-load-settings", "allow-start-uploads",
        { "identifier": "allow-restart-app" } ] }"#;
    const PAGE: &str = "// The shell.\nfunction invoke(command, args) { return tauri().core.invoke(command, args); }\n\
        export const loadSettings = () => invoke(\"load_settings\");\n\
        const ACTION_COMMANDS = { start: \"start_uploads\", \"restart\": 'restart_app' };\n\
        // invoke(\"commented_out\");\n";

    fn lists(manifest: &str, handler: &str, capability: &str, page: &str) -> Vec<CommandList> {
        vec![
            CommandList {
                file: COMMAND_MANIFEST.to_owned(),
                commands: manifest_commands(manifest),
            },
            CommandList {
                file: COMMAND_HANDLER.to_owned(),
                commands: handler_commands(handler),
            },
            CommandList {
                file: "src-tauri/capabilities/default.json".to_owned(),
                commands: capability_commands(capability),
            },
            CommandList {
                file: PAGE_BACKEND.to_owned(),
                commands: page_commands(page),
            },
        ]
    }

    #[test]
    fn each_list_of_commands_is_read_in_its_own_form() {
        let expected: BTreeSet<String> = ["load_settings", "restart_app", "start_uploads"]
            .map(str::to_owned)
            .into();
        for list in lists(MANIFEST, HANDLER, CAPABILITY, PAGE) {
            assert_eq!(list.commands.as_ref(), Ok(&expected), "{}", list.file);
        }
        assert_eq!(
            commands_agree(&lists(MANIFEST, HANDLER, CAPABILITY, PAGE)),
            vec![]
        );
    }

    #[test]
    fn a_command_missing_from_a_list_is_reported_with_the_lists_that_have_it() {
        let handler = HANDLER.replace("        updates::restart_app,\n", "");
        let page = PAGE.replace("invoke(\"load_settings\")", "invoke(\"load_setting\")");
        let messages: Vec<String> = commands_agree(&lists(MANIFEST, &handler, CAPABILITY, &page))
            .iter()
            .map(Finding::to_string)
            .collect();
        assert_eq!(
            messages,
            [
                "src-tauri/build.rs: [commands-agree] the command `load_setting` is missing here \
                 but is in ui/src/backend.js",
                "src-tauri/src/lib.rs: [commands-agree] the command `load_setting` is missing \
                 here but is in ui/src/backend.js",
                "src-tauri/capabilities/default.json: [commands-agree] the command \
                 `load_setting` is missing here but is in ui/src/backend.js",
                "ui/src/backend.js: [commands-agree] the command `load_settings` is missing here \
                 but is in src-tauri/build.rs and src-tauri/src/lib.rs and \
                 src-tauri/capabilities/default.json",
                "src-tauri/src/lib.rs: [commands-agree] the command `restart_app` is missing \
                 here but is in src-tauri/build.rs and src-tauri/capabilities/default.json and \
                 ui/src/backend.js",
            ]
        );
    }

    #[test]
    fn a_list_that_cannot_be_found_fails_instead_of_agreeing() {
        let findings = commands_agree(&lists(
            "//! Build.\nfn main() {}\n",
            HANDLER,
            "{ \"windows\": [] }",
            "// Nothing here.\n",
        ));
        let unread: Vec<&str> = findings
            .iter()
            .filter(|finding| finding.message.starts_with("cannot read"))
            .map(|finding| finding.file.as_str())
            .collect();
        assert_eq!(
            unread,
            [
                COMMAND_MANIFEST,
                "src-tauri/capabilities/default.json",
                PAGE_BACKEND
            ]
        );
    }

    #[test]
    fn module_docs_may_follow_comments_and_inner_attributes() {
        for clean in [
            "//! Docs.\nfn f() {}\n",
            "\u{feff}\n\n//! Docs after blank lines.\n",
            "// Licence line.\n/* A block /* nested */ comment. */\n#![allow(\n    unsafe_code, // why\n)]\n#![cfg(test)]\n//! Docs.\n",
            "/*! Block docs. */\n",
        ] {
            assert_eq!(module_doc("xtask/src/a.rs", clean), None, "{clean:?}");
        }
    }

    #[test]
    fn a_module_without_its_doc_fails_where_the_code_starts() {
        for (source, line) in [
            ("use std::fs;\n//! Too late.\n", 1),
            (
                "// A plain comment.\n\n/// An item's doc, not the module's.\nfn f() {}\n",
                3,
            ),
            ("#![allow(dead_code)]\n\n#[derive(Debug)]\nstruct S;\n", 3),
            ("", 1),
        ] {
            let finding = module_doc("crates/ddn-api/src/lib.rs", source).expect("a finding");
            assert_eq!(
                finding.to_string(),
                format!(
                    "crates/ddn-api/src/lib.rs:{line}: [module-docs] does not start with a `//!` \
                     module doc"
                )
            );
        }
    }

    /// The rules read the real tree rather than pass over it: the graph is there (the desktop
    /// shell does reach Tauri), the four lists are found and hold the app's commands, and the
    /// module docs are checked in every source folder, this file included.
    #[test]
    fn the_rules_see_the_real_tree() {
        let root = crate::workspace_root();
        let metadata = cargo_metadata(&root).expect("cargo metadata");
        let desktop = engine_without_tauri(&metadata, &["ddn-desktop"]);
        assert!(
            desktop
                .iter()
                .any(|finding| finding.message.contains("the Tauri crate tauri:")),
            "{desktop:?}"
        );
        let lists = command_lists(&root).expect("the lists");
        assert_eq!(lists.len(), 4);
        for list in &lists {
            let commands = list.commands.as_ref().expect("a list of commands");
            assert!(
                commands.contains("start_uploads"),
                "{}: {commands:?}",
                list.file
            );
        }
        let documented = documented_files(&root).expect("the sources");
        for file in [
            "crates/ddn-api/src/lib.rs",
            "lambda/src/store.rs",
            "xtask/src/tidy.rs",
        ] {
            assert!(documented.iter().any(|path| path == file), "{file}");
        }
    }
}
